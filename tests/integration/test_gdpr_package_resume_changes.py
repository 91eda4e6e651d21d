"""A GDPR subject package resumed over a changed source is refused: its first run
journals the files of every source its parts read (server/execution/package_facts.py),
so a source rewritten between a SIGKILL (the CSV part begun) and the restart fails the
resumed package FAILED_PRECONDITION naming the file, with the chunks already written
kept and no manifest: its JSON files were read from the earlier source, and the CSV
part would have continued by row position over the new one (rows lost or doubled, and
the JSON and CSV files telling the person different things)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pytest

from sluice.client import ExportClient, ExportFailedError
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROWS = 30_000
CHUNK_ROWS = 1_000
GDPR = {
    "controller": "Example Jobs Ltd, 1 High Street",
    "contact": "privacy@example.com",
    "purposes": "Matching job seekers and employers.",
    "retention": "Two years after your last visit.",
    "recipients": "Employers you applied to.",
}


def _frame(ids: list[int]) -> pl.DataFrame:
    return pl.DataFrame({"id": ids, "user_id": [42] * len(ids), "note": ["x" * 40] * len(ids)})


def _parts(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.iterdir()
        if p.name.startswith("part-") and "tmp" not in p.name
    }


def test_a_package_resumed_over_a_rewritten_source_is_refused(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    daemon: Daemon = daemon_factory("pkg-changed", batch_rows=500, pipeline_queue_depth=2)
    daemon.sources.mkdir(parents=True, exist_ok=True)
    source = daemon.sources / "big.parquet"
    _frame(list(range(ROWS))).write_parquet(source)
    daemon.settings.update(
        gdpr=GDPR,
        sources={"big": {"uri": str(source), "subject_column": "user_id"}},
        templates={"unsealed": {"description": "Packages left unencrypted"}},
    )
    daemon.start()
    spec = pb.ExportSpec(
        destination=pb.Destination(uri=str(daemon.exports), dataset="gdpr"),
        chunking=pb.Chunking(max_rows=CHUNK_ROWS),
        template="unsealed",
    )
    spec.subject.subject_id = "42"
    per_part = ROWS // CHUNK_ROWS
    with ExportClient(daemon.address) as client:
        export_id = client.create(spec).id
        for event in client.watch(export_id):
            if event.HasField("chunk_committed") and event.chunk_committed.index >= per_part + 1:
                break
            assert not event.HasField("finished"), "finished before the kill"
    daemon.kill()
    # New rows first: every row of the CSV part's remainder moves by 5,000 positions.
    _frame(list(range(ROWS, ROWS + 5_000)) + list(range(ROWS))).write_parquet(source)
    folder = daemon.exports / "gdpr" / export_id
    written = _parts(folder)
    assert len(written) >= per_part + 2
    daemon.start()
    with ExportClient(daemon.address) as client, pytest.raises(ExportFailedError) as failed:
        client.wait(export_id, timeout=300)
    assert failed.value.code == "FAILED_PRECONDITION", failed.value
    assert f"source changed since the export started: {source}" in str(failed.value)
    assert not (folder / "manifest.json").exists()
    assert {n: d for n, d in _parts(folder).items() if n in written} == written
