"""An export reads its source as its run facts journalled it: a CSV or NDJSON log appended
to while the export runs yields the rows it held when the export started, no more
(server/pipeline/snapshot_reads.py). The rows appended meanwhile are the next export's;
a resume still finds the file changed and is refused (test_resume_source_changes)."""

from __future__ import annotations

import polars as pl
import pytest

from sluice.client import ExportClient
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, create_and_kill_after_chunk
from tests.integration.helpers import load_manifest, read_export

pytestmark = [pytest.mark.integration, pytest.mark.slow]
# Well over one read block (NDJSON 16 MiB, CSV 8 MiB): rows past the first block are
# read after the append.
ROWS = 240_000
APPENDED = 5_000


def _lines(fmt: str, ids: range, header: bool) -> bytes:
    pad = "x" * 90
    if fmt == "ndjson":
        return "".join(f'{{"id":{i},"txt":"{pad}"}}\n' for i in ids).encode()
    head = "id,txt\n" if header else ""
    return (head + "".join(f"{i},{pad}\n" for i in ids)).encode()


@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
def test_rows_appended_while_exporting_are_left_to_the_next_export(
    daemon_factory,  # type: ignore[no-untyped-def]
    fmt: str,
) -> None:
    daemon: Daemon = daemon_factory(f"append-{fmt}", batch_rows=1024, pipeline_queue_depth=2)
    daemon.start()
    log = daemon.sources / f"events.{fmt}"
    log.write_bytes(_lines(fmt, range(ROWS), header=True))
    spec = ExportClient.build_spec(
        source=str(log), to=str(daemon.exports), dataset=fmt, format="jsonl", chunk_rows=2_000
    )
    with ExportClient(daemon.address) as client:
        export_id = client.create(spec).id
        for event in client.watch(export_id):
            assert not event.HasField("finished"), "finished before the append"
            if event.HasField("chunk_committed"):
                break
        with log.open("ab") as appending:  # a logger's next lines, and half of one more
            appending.write(_lines(fmt, range(ROWS, ROWS + APPENDED), header=False))
            appending.write(_lines(fmt, range(ROWS + APPENDED, ROWS + APPENDED + 1), False)[:9])
        finished = client.wait(export_id, timeout=300)
    exported = read_export(finished.manifest_uri)
    assert exported["id"].to_list() == list(range(ROWS))
    assert load_manifest(finished.manifest_uri)["totals"]["records"] == ROWS
    assert exported.schema["id"] == pl.Int64


def test_a_keyed_export_of_a_log_appended_to_between_attempts_resumes(
    daemon_factory,  # type: ignore[no-untyped-def]
) -> None:
    """Killed after chunk 1; the log gains rows before the restart. The resumed run's key
    pass reads the log up to the size the first run journalled, finds the rows it found
    (the fingerprint is unchanged) and continues: the export holds each first-run row
    once, the appended ones are the next increment's."""
    daemon: Daemon = daemon_factory("append-keyed", batch_rows=1024, pipeline_queue_depth=2)
    daemon.start()
    log = daemon.sources / "events.ndjson"
    rows = 40_000
    log.write_bytes(_lines("ndjson", range(rows), header=False))

    def spec(mode: str) -> pb.ExportSpec:
        return ExportClient.build_spec(
            source=str(log), to=str(daemon.exports), dataset="keyed", format="jsonl",
            chunk_rows=2_000, incremental=pb.Incremental(mode=mode, key=["id"]),
        )  # fmt: skip

    export_id = create_and_kill_after_chunk(daemon, spec("full"), 1)
    with log.open("ab") as appending:
        appending.write(_lines("ndjson", range(rows, rows + APPENDED), header=False))
    daemon.start()
    with ExportClient(daemon.address) as client:
        finished = client.wait(export_id, timeout=300)
        assert "resumes after chunk" in daemon.log_tail(400)
        assert read_export(finished.manifest_uri)["id"].to_list() == list(range(rows))
        night2 = client.wait(client.create(spec("incremental")).id, timeout=300)
    assert read_export(night2.manifest_uri)["id"].to_list() == list(range(rows, rows + APPENDED))
