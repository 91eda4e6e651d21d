"""A daemon keeping its jobs in a real PostgreSQL: an export runs end to end, the job and
its history survive a restart, GetServerInfo names the store, and a URL holding a password
is refused naming the setting to use instead. Several daemons on one store:
tests/integration/test_replicas.py."""

from __future__ import annotations

import pytest

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.integration import test_resume as resume
from tests.integration.helpers import read_export
from tests.servers.postgres import PostgresServer

pytestmark = pytest.mark.integration


def _export(client: ExportClient, daemon: Daemon, request_id: str) -> str:
    spec = ExportClient.build_spec(
        source=str(daemon.sources / "events.parquet"),
        to=str(daemon.exports),
        dataset="events",
        chunk_rows=2000,
    )
    return client.create(spec, request_id=request_id).id


def test_an_export_and_its_history_survive_a_restart(
    daemon_factory,
    postgres_server: PostgresServer,  # type: ignore[no-untyped-def]
) -> None:
    url = postgres_server.new_database()
    daemon: Daemon = daemon_factory("pg", batch_rows=1024, job_store=url)
    daemon.start()
    generate(daemon.sources / "events.parquet", 9_000, seed=14)
    with ExportClient(daemon.address) as client:
        assert client.server_info().job_store == "postgresql"
        export_id = _export(client, daemon, "nightly-1")
        finished = client.wait(export_id, timeout=120)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED
    assert finished.progress.chunks == 5
    assert read_export(finished.manifest_uri).height == 9_000
    # No SQLite file: the jobs live in PostgreSQL.
    assert not (daemon.state_dir / "jobs.sqlite3").exists()

    daemon.restart()
    with ExportClient(daemon.address) as client:
        again = client.get(export_id)
        assert again.state == pb.EXPORT_STATE_SUCCEEDED
        assert again.manifest_uri == finished.manifest_uri
        assert again.progress.records == 9_000
        assert [e.id for e in client.list()] == [export_id]
        # request_id idempotency held across the restart: the same request, no new export.
        assert _export(client, daemon, "nightly-1") == export_id


def test_a_password_in_the_url_is_refused_naming_the_setting(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    daemon: Daemon = daemon_factory(
        "pw", job_store="postgresql://sluice:hunter2@127.0.0.1:5432/jobs"
    )
    refused = daemon.serve_refused(timeout=30)
    assert refused.returncode == 2
    assert "job_store_password_ref" in refused.stderr
    assert "hunter2" not in refused.stderr + refused.stdout


def test_sigkill_mid_export_resumes_exactly_once_from_postgres(
    daemon_factory,  # type: ignore[no-untyped-def]
    postgres_server: PostgresServer,
) -> None:
    """One daemon on PostgreSQL keeps exactly-once: killed mid-export, restarted (a new
    replica once the old lease expired), it continues after the last journalled chunk."""
    url = postgres_server.new_database()
    daemon: Daemon = daemon_factory(
        "pgkill", batch_rows=1024, pipeline_queue_depth=2, job_store=url, job_lease_seconds=2
    )
    daemon.start()
    generate(daemon.sources / "events.parquet", resume.ROWS, seed=5)
    with ExportClient(daemon.address) as client:
        export_id = resume._create(client, daemon)
        resume._wait_for_chunks(client, export_id, 3)
    daemon.kill()
    daemon.start()
    with ExportClient(daemon.address) as client:
        finished = client.wait(export_id, timeout=300)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED
    resume._assert_exactly_once(finished.manifest_uri)
