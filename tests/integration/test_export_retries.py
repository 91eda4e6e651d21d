"""Automatic retries through a real daemon writing to a real S3 (moto) behind a proxy on
loopback that can answer 503 to everything for a while (an outage longer than the sink's
own retry budget): the attempt fails, not the export. It runs again after its backoff,
resumes after its last journalled chunk, and stores every record exactly once; GetExport
shows the attempts. A permanent error fails at once, an outage longer than max_attempts
fails the export naming the attempts, and a cancel during the backoff cancels."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
import zstandard

from sluice.client import ExportClient, ExportFailedError
from sluice.v1 import export_pb2 as pb
from tests.daemon import run_cli
from tests.servers.cloud import ProfileDaemon, S3Store, read_chunks, read_manifest
from tests.servers.fault_proxy import FaultProxy
from tests.servers.processes import ServerProcess
from tests.servers.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROWS = 6_000
CHUNK_ROWS = 250


@pytest.fixture
def proxy(moto_server: ServerProcess) -> Iterator[FaultProxy]:
    with FaultProxy(moto_server.port) as running:
        yield running


@pytest.fixture
def store(moto_server: ServerProcess, proxy: FaultProxy) -> S3Store:
    return S3Store(moto_server.endpoint, proxy.endpoint)


@pytest.fixture
def retrying_daemon(tmp_path: Path, store: S3Store) -> Iterator[Callable[..., ProfileDaemon]]:
    started: list[ProfileDaemon] = []

    def start(**settings: object) -> ProfileDaemon:
        daemon = ProfileDaemon(
            root=tmp_path / f"d{len(started)}",
            settings={"batch_rows": 500, **settings},
            profiles={"lake": store.profile},
            environment=store.environment,
        )
        started.append(daemon)
        daemon.start()
        return daemon

    yield start
    for daemon in started:
        daemon.stop(timeout=20)


def make_source(daemon: ProfileDaemon) -> Path:
    path = daemon.sources / "orders.parquet"
    pl.DataFrame(
        {"order_id": range(ROWS), "amount": [n * 3 % 1000 for n in range(ROWS)]}
    ).write_parquet(path)
    return path


def create(
    client: ExportClient,
    daemon: ProfileDaemon,
    store: S3Store,
    to: str = "",
    notify: tuple[str, ...] = (),
) -> str:
    spec = ExportClient.build_spec(
        source=str(make_source(daemon)),
        to=to or store.root_uri,
        dataset="orders",
        storage_profile="lake",
        chunk_rows=CHUNK_ROWS,
        notify=list(notify),
    )
    return client.create(spec).id


def wait_for(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def wait_failed(client: ExportClient, export_id: str) -> pb.Export:
    with pytest.raises(ExportFailedError) as failed:
        client.wait(export_id, timeout=120)
    return failed.value.export


def outcomes(export: pb.Export) -> list[str]:
    return [attempt.outcome for attempt in export.attempts]


def test_an_outage_fails_the_attempt_and_the_retry_resumes_exactly_once(
    retrying_daemon: Callable[..., ProfileDaemon],
    proxy: FaultProxy,
    store: S3Store,
    tmp_path: Path,
) -> None:
    secret = tmp_path / "webhook-secret"
    secret.write_bytes(b"whsec-retries-0123456789")
    secret.chmod(0o600)
    hooks = WebhookReceiver()
    with hooks.running():
        daemon = retrying_daemon(
            max_attempts=3,
            retry_backoff_seconds=2.0,
            notifications={"ops": {"url": hooks.url("/ops"), "secret_ref": f"file:{secret}"}},
        )
        finished, watched = _export_through_an_outage(daemon, proxy, store)
        # Notified once, of the final outcome, not of the failed attempt.
        (hook,) = hooks.wait_for(1)
        time.sleep(1.0)
        assert len(hooks.received) == 1
    assert json.loads(hook.body)["state"] == "succeeded"
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    assert outcomes(finished) == ["retried", "succeeded"]
    first, second = finished.attempts
    assert (first.number, second.number) == (1, 2)
    assert first.error.code == "UNAVAILABLE" and first.error.transient
    assert first.retry_at.ToDatetime() >= first.ended_at.ToDatetime()
    assert second.started_at.ToDatetime() >= first.retry_at.ToDatetime()
    assert first.replica and first.replica == second.replica
    assert "resumes after chunk" in daemon.log_tail(400)
    # Every record exactly once, read back from S3 and checked against the manifest.
    manifest = read_manifest(store, finished.manifest_uri)
    folder = finished.manifest_uri.removeprefix(store.root_uri + "/").rsplit("/", 1)[0]
    frames = [
        pl.read_ndjson(zstandard.ZstdDecompressor().decompressobj().decompress(data))
        for data in read_chunks(store, manifest, folder)
    ]
    ids = pl.concat(frames)["order_id"].to_list()
    assert sorted(ids) == list(range(ROWS))
    assert run_cli(daemon, "export", "verify", finished.id).returncode == 0
    # `sluice export get` shows the attempts, and so does its JSON.
    shown = run_cli(daemon, "export", "get", finished.id)
    assert "#1 on" in shown.stdout and "retried (UNAVAILABLE" in shown.stdout
    assert "#2 on" in shown.stdout and "succeeded" in shown.stdout
    as_json = json.loads(run_cli(daemon, "export", "get", finished.id, "--json").stdout)
    assert [a["outcome"] for a in as_json["attempts"]] == ["retried", "succeeded"]
    # `sluice export watch`, following it from the start, said when the attempt failed.
    assert watched.returncode == 0, watched.stderr
    assert f"export {finished.id}: attempt 1 failed (UNAVAILABLE: " in watched.stdout
    assert "; retrying from " in watched.stdout


def _export_through_an_outage(
    daemon: ProfileDaemon, proxy: FaultProxy, store: S3Store
) -> tuple[pb.Export, subprocess.CompletedProcess[str]]:
    """The export, and what `sluice export watch` printed while following it."""
    watched: list[subprocess.CompletedProcess[str]] = []
    with ExportClient(daemon.address) as client:
        # Storage goes down a few chunks into the export, for longer than the sink's
        # own retries (5 calls) last: every request from then on is a 503.
        proxy.plan.unavailable_from = proxy.requests + 12
        export_id = create(client, daemon, store, notify=("ops",))
        watcher = threading.Thread(
            target=lambda: watched.append(run_cli(daemon, "export", "watch", export_id))
        )
        watcher.start()
        wait_for(lambda: outcomes(client.get(export_id))[:1] == ["retried"])
        waiting = client.get(export_id)
        assert waiting.state == pb.EXPORT_STATE_QUEUED
        assert 0 < waiting.progress.chunks < ROWS // CHUNK_ROWS  # failed mid-export
        proxy.plan.unavailable_from = 0  # storage is back before the backoff ends
        finished = client.wait(export_id, timeout=120)
    watcher.join(60)
    return finished, watched[0]


def test_a_permanent_error_fails_at_once_with_one_attempt(
    retrying_daemon: Callable[..., ProfileDaemon], store: S3Store
) -> None:
    daemon = retrying_daemon(max_attempts=3, retry_backoff_seconds=0.2)
    with ExportClient(daemon.address) as client:
        missing = store.root_uri.replace(store.bucket, store.bucket + "-missing")
        export_id = create(client, daemon, store, to=missing)
        finished = wait_failed(client, export_id)
    assert finished.state == pb.EXPORT_STATE_FAILED
    assert not finished.error.transient and "attempts" not in finished.error.message
    assert outcomes(finished) == ["failed"]
    assert finished.attempts[0].error.code == finished.error.code


def test_an_outage_longer_than_max_attempts_fails_naming_them(
    retrying_daemon: Callable[..., ProfileDaemon], proxy: FaultProxy, store: S3Store
) -> None:
    daemon = retrying_daemon(max_attempts=2, retry_backoff_seconds=0.2)
    with ExportClient(daemon.address) as client:
        proxy.plan.unavailable_from = proxy.requests + 1
        export_id = create(client, daemon, store)
        finished = wait_failed(client, export_id)
    assert finished.state == pb.EXPORT_STATE_FAILED
    assert finished.error.code == "UNAVAILABLE" and finished.error.transient
    assert "gave up after 2 attempts" in finished.error.message
    assert outcomes(finished) == ["retried", "failed"]


def test_a_cancel_during_the_backoff_cancels(
    retrying_daemon: Callable[..., ProfileDaemon], proxy: FaultProxy, store: S3Store
) -> None:
    daemon = retrying_daemon(max_attempts=3, retry_backoff_seconds=60.0)
    with ExportClient(daemon.address) as client:
        proxy.plan.unavailable_from = proxy.requests + 1
        export_id = create(client, daemon, store)
        wait_for(lambda: outcomes(client.get(export_id)) == ["retried"])
        proxy.plan.unavailable_from = 0
        cancelled = client.cancel(export_id)
        assert cancelled.state == pb.EXPORT_STATE_CANCELLED
        time.sleep(1.5)  # nothing runs it again
        after = client.get(export_id)
    assert after.state == pb.EXPORT_STATE_CANCELLED
    assert outcomes(after) == ["retried"]


def test_a_put_export_retried_after_an_outage_gets_the_lost_rows_resent_exactly_once(
    retrying_daemon: Callable[..., ProfileDaemon], proxy: FaultProxy, store: S3Store
) -> None:
    """A DoPut export's failed attempt had taken rows past its last chunk out of the
    stream; the retried attempt cannot read them again from a file, so the put ends
    UNAVAILABLE and the client resumes from the committed rows: every row once."""
    daemon = retrying_daemon(max_attempts=3, retry_backoff_seconds=1.0)
    table = pa.table({"order_id": range(ROWS), "amount": [n * 3 % 1000 for n in range(ROWS)]})
    spec = ExportClient.build_spec(
        source="",
        to=store.root_uri,
        dataset="pushed",
        storage_profile="lake",
        chunk_rows=CHUNK_ROWS,
    )
    spec.ClearField("source")
    acks: list[dict[str, object]] = []
    with ExportClient(daemon.address) as client:
        proxy.plan.unavailable_from = proxy.requests + 12
        restored = threading.Thread(
            target=lambda: (
                wait_for(lambda: bool(acks) and _retried(client, str(acks[0]["export_id"]))),
                setattr(proxy.plan, "unavailable_from", 0),
            )
        )
        restored.start()
        final = client.put(
            spec, table.to_batches(max_chunksize=100), "put-retried", on_ack=acks.append
        )
        restored.join(60)
        finished = client.get(str(final["export_id"]))
    assert final["state"] == "succeeded" and final["committed_records"] == ROWS
    assert outcomes(finished) == ["retried", "succeeded"]
    manifest = read_manifest(store, finished.manifest_uri)
    folder = finished.manifest_uri.removeprefix(store.root_uri + "/").rsplit("/", 1)[0]
    frames = [
        pl.read_ndjson(zstandard.ZstdDecompressor().decompressobj().decompress(data))
        for data in read_chunks(store, manifest, folder)
    ]
    assert pl.concat(frames)["order_id"].to_list() == list(range(ROWS))


def _retried(client: ExportClient, export_id: str) -> bool:
    return outcomes(client.get(export_id))[:1] == ["retried"]
