"""The chunk files a cancelled or failed export wrote, through a real daemon and the CLI:
`sluice export delete ID` removes exactly those its journal names (in a local folder and
in an S3 bucket behind moto), and the export can no longer resume; anything else in the
folder, and other exports' files, stay. Another principal's export is NOT_FOUND, as one
that does not exist; a storage outage is reported and a second delete finishes; verify
says why there is no manifest."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, run_cli
from tests.integration.flight_helpers import expected
from tests.integration.test_resume import _wait_for_chunks
from tests.servers.cloud import PART_SIZE, ProfileDaemon, S3Store
from tests.servers.fault_proxy import FaultProxy
from tests.servers.processes import ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHUNK_ROWS = 1_000
TOKENS = {"alice": "alice-token-for-left-over-chunks", "bob": "bob-token-for-left-over-chunks"}


@pytest.fixture
def proxy(moto_server: ServerProcess) -> Iterator[FaultProxy]:
    running = FaultProxy(moto_server.port).start()
    yield running
    running.stop()


@pytest.fixture
def store(moto_server: ServerProcess, proxy: FaultProxy) -> S3Store:
    return S3Store(moto_server.endpoint, proxy.endpoint)


@pytest.fixture
def daemon(tmp_path: Path, store: S3Store) -> Iterator[ProfileDaemon]:
    import hashlib

    root = tmp_path / "d"

    def principal(name: str) -> dict[str, object]:
        return {
            "name": name,
            "token_sha256": hashlib.sha256(TOKENS[name].encode()).hexdigest(),
            "scopes": ["exports:create", "exports:read", "exports:cancel", "exports:delete"],
            "profiles": ["lake"],
            "destination_roots": [str(root / "exports" / name), store.root_uri],
            "source_roots": [str(root / "sources")],
        }

    daemon = ProfileDaemon(
        root=root,
        settings={
            "batch_rows": 2048,
            "max_attempts": 1,
            "audit_log": str(root / "audit.jsonl"),
            "auth": {"principals": [principal("alice"), principal("bob")]},
        },
        profiles={"lake": store.profile},
        environment=store.environment,
    )
    for name in TOKENS:
        (daemon.exports / name).mkdir(parents=True)
    daemon.start()
    yield daemon
    try:
        daemon.stop(timeout=20)
    except Exception:
        daemon.kill()


def _client(daemon: ProfileDaemon, who: str = "alice") -> ExportClient:
    return ExportClient(daemon.address, token=TOKENS[who], use_environment=False)


def _cancelled_put(daemon: ProfileDaemon, to: str, *, profile: str = "") -> str:
    """A put whose records raise once three chunks are committed: the client cancels
    the export, which keeps those chunks' files. Returns its id."""
    committed = threading.Event()
    table = expected(4 * CHUNK_ROWS).to_arrow()

    def on_ack(ack: dict[str, object]) -> None:
        if int(str(ack["committed_records"])) >= 3 * CHUNK_ROWS:
            committed.set()

    def batches() -> Iterator[pa.RecordBatch]:
        yield from table.to_batches(max_chunksize=CHUNK_ROWS)
        assert committed.wait(60), "three chunks were never committed"
        raise RuntimeError("the records ran dry")

    spec = ExportClient.build_spec(
        to=to, dataset="pushed", format="jsonl", chunk_rows=CHUNK_ROWS, storage_profile=profile
    )
    spec.ClearField("source")
    with _client(daemon) as client:
        before = {e.id for e in client.list()}
        with pytest.raises(RuntimeError, match="ran dry"):
            client.put(spec, batches(), on_ack=on_ack)
        (export_id,) = [e.id for e in client.list() if e.id not in before]
        deadline = time.monotonic() + 30
        while client.get(export_id).state != pb.EXPORT_STATE_CANCELLED:
            assert time.monotonic() < deadline, client.get(export_id)
            time.sleep(0.1)
    return export_id


def _under(store: S3Store, prefix: str) -> list[str]:
    stored = store.keys()
    return sorted(key for key in stored if key.startswith(prefix))


def _cli(daemon: ProfileDaemon, who: str, *args: str) -> tuple[int, str, str]:
    result = run_cli(daemon, *args, env={"SLUICE_TOKEN": TOKENS[who]})
    return result.returncode, result.stdout, result.stderr


def _state(daemon: ProfileDaemon, export_id: str) -> int:
    with _client(daemon) as client:
        return int(client.get(export_id).state)


def test_deleting_a_cancelled_export_removes_its_journalled_chunks_only(
    daemon: ProfileDaemon,
) -> None:
    to = str(daemon.exports / "alice")
    export_id = _cancelled_put(daemon, to)
    other_id = _cancelled_put(daemon, to)
    folder = daemon.exports / "alice" / "pushed" / export_id
    chunks = sorted(p.name for p in folder.iterdir())
    assert chunks[:3] == [f"part-00000{i}.jsonl.zst" for i in range(3)], chunks
    # Files the journal does not name: a later chunk number and a stranger's file.
    (folder / "part-000099.jsonl.zst").write_bytes(b"not this export's")
    (folder / "notes.txt").write_text("mine")
    others = sorted(p.name for p in (folder.parent / other_id).iterdir())

    code, _, err = _cli(daemon, "alice", "export", "verify", export_id)
    assert code == 1
    assert "was cancelled before it finished (state cancelled)" in err, err
    assert "no manifest" in err and f"sluice export delete {export_id}" in err, err

    # Another principal: the answer for an export that does not exist, nothing removed.
    code, _, bob_said = _cli(daemon, "bob", "export", "delete", export_id)
    _, _, unknown = _cli(daemon, "bob", "export", "delete", "exp_doesnotexist")
    assert code == 1 and bob_said == unknown.replace("exp_doesnotexist", export_id), bob_said
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*chunks, "part-000099.jsonl.zst", "notes.txt"]
    )

    code, out, err = _cli(daemon, "alice", "export", "delete", export_id, "--json")
    assert code == 0, err
    journalled = [name for name in chunks if name.startswith("part-")]
    assert json.loads(out)["objects_removed"] == len(journalled)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "part-000099.jsonl.zst"]
    assert sorted(p.name for p in (folder.parent / other_id).iterdir()) == others
    assert _state(daemon, export_id) == pb.EXPORT_STATE_DELETED
    assert _state(daemon, other_id) == pb.EXPORT_STATE_CANCELLED

    code, _, err = _cli(daemon, "alice", "export", "resume", export_id)
    assert code == 1 and "FAILED_PRECONDITION" in err, err
    assert f"export '{export_id}' was deleted; it cannot be resumed" in err, err
    # It never had a manifest: not "its files were removed" (a cut-short delete leaves some).
    code, _, err = _cli(daemon, "alice", "export", "verify", export_id)
    assert code == 1 and "never had a manifest" in err, err
    assert "delete it again to finish removing its files" in err, err
    # Again: nothing left of it to remove, and nothing else touched.
    code, out, err = _cli(daemon, "alice", "export", "delete", export_id, "--json")
    assert code == 0 and json.loads(out)["objects_removed"] == 0, err
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "part-000099.jsonl.zst"]

    audit = [json.loads(line) for line in (daemon.root / "audit.jsonl").read_text().splitlines()]
    deletes = [
        (a["principal"], a["outcome"])
        for a in audit
        if a["method"].endswith("/DeleteExport") and a["export_id"] == export_id
    ]
    assert deletes == [("bob", "NOT_FOUND"), ("alice", "OK"), ("alice", "OK")], deletes


def _failed_export(daemon: ProfileDaemon, store: S3Store, proxy: FaultProxy) -> str:
    """An export to S3 that fails once three chunks are committed: the store answers 503
    from then on (the daemon tries once: max_attempts 1). Returns its id."""
    source = daemon.sources / "events.parquet"
    expected(200 * CHUNK_ROWS).write_parquet(source)
    spec = ExportClient.build_spec(
        source=source,
        to=store.root_uri,
        dataset="events",
        format="jsonl",
        chunk_rows=CHUNK_ROWS,
        storage_profile="lake",
    )
    proxy.plan.put_delay = 0.2  # a slow store: the outage begins long before the end
    with _client(daemon) as client:
        export_id = client.create(spec).id
        deadline = time.monotonic() + 60
        while client.get(export_id).progress.chunks < 3:
            assert time.monotonic() < deadline, client.get(export_id)
            time.sleep(0.02)
        proxy.plan.unavailable = 1.0
        try:
            while (state := client.get(export_id).state) != pb.EXPORT_STATE_FAILED:
                assert state != pb.EXPORT_STATE_SUCCEEDED and time.monotonic() < deadline + 60
                time.sleep(0.1)
        finally:
            proxy.plan.unavailable = 0.0
            proxy.plan.put_delay = 0.0
    return export_id


def test_s3_chunks_of_a_failed_export_are_removed_and_an_outage_is_reported_then_finished(
    daemon: ProfileDaemon, store: S3Store, proxy: FaultProxy
) -> None:
    export_id = _failed_export(daemon, store, proxy)
    other_id = _cancelled_put(daemon, store.root_uri, profile="lake")
    prefix = f"events/{export_id}/"
    chunks = _under(store, prefix)
    assert len(chunks) >= 3, chunks
    stranger = f"{prefix}part-009999.jsonl.zst"
    store.client.put_object(Bucket=store.bucket, Key=f"exports/{stranger}", Body=b"x")
    others = _under(store, f"pushed/{other_id}/")
    assert others

    code, _, err = _cli(daemon, "alice", "export", "verify", export_id)
    assert code == 1 and "failed before it finished (state failed)" in err, err

    proxy.plan.unavailable = 1.0  # every storage request is answered 503
    try:
        code, _, err = _cli(daemon, "alice", "export", "delete", export_id)
    finally:
        proxy.plan.unavailable = 0.0
    # Found before anything changed: said, and the export is as it was.
    assert code == 1 and "UNAVAILABLE" in err and "SlowDown" in err, err
    assert _state(daemon, export_id) == pb.EXPORT_STATE_FAILED
    assert _under(store, prefix) == sorted([*chunks, stranger])

    # An outage from the first removal on (after the manifest check and the listing).
    proxy.plan.unavailable_from = proxy.requests + 3
    try:
        code, _, err = _cli(daemon, "alice", "export", "delete", export_id)
    finally:
        proxy.plan.unavailable_from = 0
    assert code == 1, err
    assert "UNAVAILABLE" in err and "delete it again" in err, err
    assert set(chunks) & set(store.keys()), "the outage began after every removal"
    assert _state(daemon, export_id) == pb.EXPORT_STATE_DELETED  # never resumable again
    code, _, err = _cli(daemon, "alice", "export", "resume", export_id)
    assert code == 1 and "deleted" in err, err

    code, out, err = _cli(daemon, "alice", "export", "delete", export_id, "--json")
    assert code == 0 and json.loads(out)["objects_removed"] == len(chunks), err
    assert _under(store, prefix) == [stranger]
    assert _under(store, f"pushed/{other_id}/") == others


def test_a_running_export_is_refused_with_how_to_stop_it(daemon: ProfileDaemon) -> None:
    release = threading.Event()
    table = expected(2 * CHUNK_ROWS).to_arrow()

    def batches() -> Iterator[pa.RecordBatch]:
        yield from table.to_batches(max_chunksize=CHUNK_ROWS)
        release.wait(60)
        raise RuntimeError("held, then given up")

    spec = ExportClient.build_spec(to=daemon.exports / "alice", dataset="held", format="jsonl")
    spec.ClearField("source")
    outcome: list[BaseException] = []

    def put() -> None:
        with _client(daemon) as client:
            try:
                client.put(spec, batches())
            except RuntimeError as exc:
                outcome.append(exc)

    putter = threading.Thread(target=put)
    with _client(daemon) as client:
        before = {e.id for e in client.list()}
        putter.start()
        try:
            deadline = time.monotonic() + 30
            while not (made := [e for e in client.list() if e.id not in before]):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            export_id = made[0].id
            code, _, err = _cli(daemon, "alice", "export", "delete", export_id)
            assert code == 1, err
            assert f"cancel it first (`sluice export cancel {export_id}`)" in err, err
            assert client.get(export_id).state in (
                pb.EXPORT_STATE_QUEUED,
                pb.EXPORT_STATE_RUNNING,
            )
        finally:
            release.set()
            putter.join(60)
    assert outcome, "the held put ended otherwise"


def test_deleting_a_failed_s3_export_aborts_the_upload_its_failure_left_open(
    daemon: ProfileDaemon, store: S3Store, proxy: FaultProxy
) -> None:
    # A chunk far larger than a part: the outage strikes while its multipart upload has a
    # part stored, and the failed run's own (best-effort) abort is answered 503 too, so
    # the upload stays open and journalled. No run will ever sweep it once deleted.
    generate(daemon.sources / "events.parquet", 60_000, seed=11)
    spec = ExportClient.build_spec(
        source=str(daemon.sources / "events.parquet"),
        to=store.root_uri,
        dataset="events",
        format="jsonl",
        compression="none",
        chunk_bytes=12 * 1024 * 1024,
        storage_profile="lake",
    )
    with _client(daemon) as client:
        export_id = client.create(spec).id
        deadline = time.monotonic() + 120
        while proxy.part_bytes < PART_SIZE + 1024:
            assert time.monotonic() < deadline, client.get(export_id)
            time.sleep(0.01)
        proxy.plan.unavailable = 1.0
        try:
            while client.get(export_id).state != pb.EXPORT_STATE_FAILED:
                assert time.monotonic() < deadline + 120, client.get(export_id)
                time.sleep(0.1)
        finally:
            proxy.plan.unavailable = 0.0
    left_open = [key for key in store.unfinished_uploads() if f"/{export_id}/" in key]
    assert left_open, "the failed run's own abort got through: nothing to test"

    code, _, err = _cli(daemon, "alice", "export", "delete", export_id, "--json")
    assert code == 0, err
    assert store.unfinished_uploads() == []
    assert store.stored_parts() == {}
    assert _state(daemon, export_id) == pb.EXPORT_STATE_DELETED


def test_deleting_a_cancelled_keyed_sync_removes_its_index_and_tombstones(
    daemon_factory: Callable[..., Daemon],
) -> None:
    # The keyed pass commits index.arrows and tombstones.<ext> (deleted rows' keys)
    # before the first chunk: a sync cancelled after two chunks has them stored.
    keyed = daemon_factory("keyed", batch_rows=1024, pipeline_queue_depth=2)
    keyed.start()
    source = generate(keyed.sources / "events.parquet", 60_000, seed=5)

    def create(client: ExportClient, mode: str) -> str:
        spec = ExportClient.build_spec(
            source=str(source),
            to=str(keyed.exports),
            dataset="events",
            level=15,
            chunk_rows=2_000,
            incremental=pb.Incremental(mode=mode, key=["id"]),
        )
        return client.create(spec).id

    with ExportClient(keyed.address) as client:
        client.wait(create(client, "full"), timeout=300)
    day1 = pl.read_parquet(source)
    changed = pl.when(pl.col("id") % 5 == 0).then(pl.col("amount") + 1).otherwise("amount")
    # Changed rows (chunks to cancel in) and deleted ones (tombstones).
    day1.with_columns(changed.alias("amount")).filter(pl.col("id") % 1_000 != 1).write_parquet(
        source
    )
    with ExportClient(keyed.address) as client:
        export_id = create(client, "incremental")
        _wait_for_chunks(client, export_id, 2)
        client.cancel(export_id)
        deadline = time.monotonic() + 30
        while client.get(export_id).state != pb.EXPORT_STATE_CANCELLED:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    folder = keyed.exports / "events" / export_id
    before = sorted(p.name for p in folder.iterdir())
    assert "index.arrows" in before and "tombstones.jsonl.zst" in before, before

    result = run_cli(keyed, "export", "delete", export_id, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["objects_removed"] == len(before)
    # Nothing left: a local folder emptied of its last file goes too.
    assert not folder.exists() or sorted(p.name for p in folder.iterdir()) == []
