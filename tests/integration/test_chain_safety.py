"""An export chain is never lost or duplicated by retention, delete, diff or a keyed put:
through a real daemon, the CLI and Flight clients, from what storage holds."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.flight as fl
import pytest

from sluice.client import ExportClient, InvalidArgumentError
from sluice.client._flight import put_command
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, run_cli
from tests.waiting import until

pytestmark = pytest.mark.integration


def _manifest(daemon: Daemon, dataset: str, export_id: str) -> dict:  # type: ignore[type-arg]
    return json.loads((daemon.exports / dataset / export_id / "manifest.json").read_text())  # type: ignore[no-any-return]


def _committed(daemon: Daemon, dataset: str) -> list[str]:
    return sorted(p.parent.name for p in (daemon.exports / dataset).glob("*/manifest.json"))


def _sync(daemon: Daemon, source: Path, mode: str) -> str:
    """A keyed export of `source` (CLI, waited for); its id."""
    done = run_cli(
        daemon,
        "export", "create", "--source", str(source), "--to", str(daemon.exports),
        "--dataset", "items", "--mode", mode, "--key", "id", "--format", "jsonl",
        "--compression", "none", "--wait",
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[1]


def _finished(daemon: Daemon, export_id: str, when: str) -> None:
    """Make a committed export look finished at `when` (the daemon signs nothing here)."""
    path = daemon.exports / "items" / export_id / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["finished_at"] = when
    path.write_text(json.dumps(manifest))


def test_keep_within_counts_from_the_newest_export_after_a_pause(daemon: Daemon) -> None:
    """A nightly keyed chain paused for weeks (a source outage): `--keep-within-days 7`
    keeps what finished within 7 days of the newest export, as restic's --keep-within
    does; the chain survives, and the next increment tombstones the row deleted meanwhile."""
    source = daemon.sources / "items.parquet"
    pl.DataFrame({"id": [1, 2, 3], "v": ["a", "b", "c"]}).write_parquet(source)
    retired = _sync(daemon, source, "full")  # an old chain, long before the pause
    full = _sync(daemon, source, "full")
    increment = _sync(daemon, source, "incremental")
    _finished(daemon, retired, "2026-10-01T02:00:00+00:00")
    _finished(daemon, full, "2026-11-20T02:00:00+00:00")
    _finished(daemon, increment, "2026-11-21T02:00:00+00:00")

    kept = run_cli(
        daemon, "export", "retain", "--to", str(daemon.exports), "--dataset", "items",
        "--keep-within-days", "7",
    )  # fmt: skip
    assert kept.returncode == 0, kept.stderr
    assert f"deleted {retired}" in kept.stdout
    assert _committed(daemon, "items") == sorted([full, increment])

    pl.DataFrame({"id": [1, 3], "v": ["a", "c"]}).write_parquet(source)  # row 2 deleted
    after = _sync(daemon, source, "incremental")
    manifest = _manifest(daemon, "items", after)
    assert manifest["parent_export_id"] == increment
    assert manifest["tombstones"]["records"] == 1


def test_diff_counts_duplicate_chunks(daemon: Daemon) -> None:
    """Export A holds two chunks of identical content, B one: B lacks 1000 of A's
    records, and the diff says so (a removed chunk), not "nothing changed"."""
    source = daemon.sources / "events.parquet"
    ids = []
    for rows in (2000, 1000):
        pl.DataFrame({"status": ["ok"] * rows, "code": [200] * rows}).write_parquet(source)
        made = run_cli(
            daemon, "export", "create", "--source", str(source), "--to", str(daemon.exports),
            "--dataset", "events", "--format", "jsonl", "--chunk-rows", "1000", "--wait",
            timeout=300,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        ids.append(made.stdout.split()[1])
    digests = [c["content_digest"] for c in _manifest(daemon, "events", ids[0])["chunks"]]
    assert len(digests) == 2 and digests[0] == digests[1]

    result = _chunk_diff(daemon, ids[0], ids[1])
    assert (len(result.get("added", [])), result.get("unchanged")) == (0, 1)
    assert [c["records"] for c in result.get("removed", [])] == [1000]
    back = _chunk_diff(daemon, ids[1], ids[0])
    assert (len(back.get("removed", [])), back.get("unchanged")) == (0, 1)
    assert [c["records"] for c in back.get("added", [])] == [1000]


def _chunk_diff(daemon: Daemon, base: str, other: str) -> dict:  # type: ignore[type-arg]
    diffed = run_cli(daemon, "export", "diff", "--chunks-only", "--json", base, other)
    assert diffed.returncode == 0, diffed.stderr
    return json.loads(diffed.stdout.splitlines()[0])  # type: ignore[no-any-return]


def _put_spec(daemon: Daemon, mode: str, **incremental: object) -> pb.ExportSpec:
    return pb.ExportSpec(
        destination=pb.Destination(uri=str(daemon.exports), dataset="items"),
        output=pb.Output(format="jsonl", compression="none"),
        incremental=pb.Incremental(mode=mode, **incremental),
    )


def _rows(low: int, high: int) -> pa.RecordBatch:
    return pa.record_batch(
        {
            "id": pa.array(range(low, high), pa.int64()),
            "v": pa.array([f"x{i}" for i in range(low, high)]),
        }
    )


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_delete_refuses_the_parent_a_running_increment_builds_on(
    store: str,
    request: pytest.FixtureRequest,
    daemon_factory,  # type: ignore[no-untyped-def]
) -> None:
    """`export delete A` while increment C, planned with A as its parent, runs (a Flight
    put holds C mid-stream): refused naming C, and C commits on a parent that exists.
    The running increment is found in either job store."""
    settings: dict[str, object] = {"batch_rows": 2048}
    if store == "postgresql":
        settings["job_store"] = request.getfixturevalue("postgres_server").new_database()
    daemon: Daemon = daemon_factory("d", **settings)
    daemon.start(timeout=120)
    with ExportClient(daemon.address) as client:
        first = client.put(
            _put_spec(daemon, "full", cursor="id"), pa.Table.from_batches([_rows(0, 100)])
        )
        parent = first["export_id"]
        acks: list[dict] = []  # type: ignore[type-arg]
        refused: list[subprocess.CompletedProcess[str]] = []

        def source() -> Iterator[pa.RecordBatch]:
            yield _rows(0, 50)
            refused.append(run_cli(daemon, "export", "delete", parent))
            yield _rows(100, 150)

        final = client.put(
            _put_spec(daemon, "incremental", cursor="id"), source(), on_ack=acks.append
        )
    increment = acks[0]["export_id"]
    assert refused[0].returncode == 1, refused[0].stdout
    assert refused[0].stderr.startswith("sluice: error:")
    assert parent in refused[0].stderr and increment in refused[0].stderr
    assert (final["export_id"], final["state"]) == (increment, "succeeded")
    assert _manifest(daemon, "items", increment)["parent_export_id"] == parent
    assert _committed(daemon, "items") == sorted([parent, increment])
    # Once C committed, A is its committed child's parent: still refused, by that rule.
    again = run_cli(daemon, "export", "delete", parent)
    assert again.returncode == 1 and "is the parent of" in again.stderr


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_a_keyed_put_is_refused_before_any_record_is_sent(daemon: Daemon, mode: str) -> None:
    """A keyed export reads its source twice (the key pass, then the export); records
    pushed over Flight DoPut are read once. A plain pyarrow Flight client was told its
    put failed transiently ("resume the put"), over and over; now the put is refused as
    INVALID_ARGUMENT naming spec.incremental.key, and no export is left behind."""
    spec = _put_spec(daemon, mode, key=["id"])
    table = pa.Table.from_batches([_rows(0, 1000)])
    flight = fl.FlightClient(f"grpc://{daemon.address}")
    descriptor = fl.FlightDescriptor.for_command(put_command(spec, f"plain-{mode}"))
    with pytest.raises(pa.ArrowInvalid) as refused:
        writer, reader = flight.do_put(descriptor, table.schema)
        writer.write_metadata(b'{"end_of_records": false}')
        reader.read()
        for batch in table.to_batches(max_chunksize=100):
            writer.write_batch(batch)
        writer.write_metadata(b'{"end_of_records": true}')
        writer.done_writing()
        while reader.read() is not None:
            pass
        writer.close()
    message = str(refused.value)
    assert "spec.incremental.key" in message and "read once" in message, message
    flight.close()

    sent: list[int] = []

    def counted() -> Iterator[pa.RecordBatch]:
        for batch in table.to_batches(max_chunksize=100):
            sent.append(batch.num_rows)
            yield batch

    with ExportClient(daemon.address) as client:
        with pytest.raises(InvalidArgumentError, match=r"spec\.incremental\.key"):
            client.put(spec, counted())
        assert [e for e in client.list() if e.spec.destination.dataset == "items"] == []
    assert sum(sent) <= 100  # never sent whole, let alone twice
    assert not (daemon.exports / "items").exists() or _committed(daemon, "items") == []


def test_an_abandoned_put_ends_cancelled_saying_why(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """A put whose caller stops sending (no end of records) is cancelled after
    flight_put_idle_timeout; nobody asked for that cancel, so the export says why (its
    error was empty), and a cancel on request says it was asked for."""
    daemon: Daemon = daemon_factory("idle", flight_put_idle_timeout=2.0)
    daemon.start(timeout=120)
    spec = _put_spec(daemon, "full")
    flight = fl.FlightClient(f"grpc://{daemon.address}")
    descriptor = fl.FlightDescriptor.for_command(put_command(spec, "stops-sending"))
    writer, reader = flight.do_put(descriptor, _rows(0, 1).schema)
    writer.write_metadata(b'{"end_of_records": false}')
    export_id = json.loads(reader.read().to_pybytes())["export_id"]
    writer.write_batch(_rows(0, 100))
    with ExportClient(daemon.address) as client:
        until(lambda: client.get(export_id).state == pb.EXPORT_STATE_CANCELLED, "cancelled", 120)
        ended = client.get(export_id)
        assert "flight_put_idle_timeout" in ended.error.message, ended.error
        assert ended.error.code == "CANCELLED"
    flight.close()
