"""A daemon on a real PostgreSQL job store that goes down and comes back: while it is
down, calls hear UNAVAILABLE "job store unavailable" within an ordinary client deadline
(not DEADLINE_EXCEEDED after the pool's 15 s wait), and once it is back the next call
is answered (no reconnection backoff of tens of seconds left over from the outage).
Readiness (the ExportService health status on the probe port) goes NOT_SERVING during
the outage and SERVING after it while liveness (the overall status) stays SERVING, and
a /metrics scrape answers within Prometheus' default timeout saying the store is down.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import polars as pl
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sluice.client import ExportClient
from sluice.v1 import export_pb2 as pb
from sluice.v1 import export_pb2_grpc
from tests.daemon import Daemon, free_port
from tests.integration.scraping import scrape, value
from tests.servers.postgres import PostgresServer, start_postgres

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: A client deadline callers commonly use; shorter than the pool's connect timeout (15 s).
DEADLINE = 8.0
#: Generous: the daemon notices an outage after its 10 s grace, on a loaded machine.
NOTICE_SECONDS = 120.0
#: Long enough for psycopg_pool's doubling reconnection delays to reach 8-16 s.
OUTAGE_SECONDS = 25.0


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    # Its own server: the session's is shared by other tests, which an outage would fail.
    server = start_postgres()
    yield server
    server.stop()


def _get(stub: export_pb2_grpc.ExportServiceStub, export_id: str) -> tuple[str, str]:
    try:
        stub.GetExport(pb.GetExportRequest(id=export_id), timeout=DEADLINE)
    except grpc.RpcError as exc:
        return exc.code().name, exc.details() or ""
    return "OK", ""


def test_an_outage_is_reported_as_unavailable_and_the_next_call_after_it_is_answered(
    daemon_factory: Callable[..., Daemon], own_postgres: PostgresServer, tmp_path: Path
) -> None:
    sources, exports = tmp_path / "sources", tmp_path / "exports"
    sources.mkdir()
    exports.mkdir()
    pl.DataFrame({"id": list(range(100))}).write_parquet(sources / "a.parquet")
    daemon = daemon_factory(
        "d",
        job_store=own_postgres.new_database(),
        replica_id="replica-0",
        allowed_roots=[str(exports)],
        allowed_source_roots=[str(sources)],
    )
    daemon.start()
    spec = ExportClient.build_spec(
        source=str(sources / "a.parquet"), to=str(exports), dataset="a", format="jsonl"
    )
    with ExportClient(daemon.address) as client:
        export_id = client.wait(client.create(spec).id).id
    stub = export_pb2_grpc.ExportServiceStub(grpc.insecure_channel(daemon.address))
    assert _get(stub, export_id) == ("OK", "")

    own_postgres.halt()
    answers = []
    down_until = time.monotonic() + OUTAGE_SECONDS
    while time.monotonic() < down_until:
        answers.append(_get(stub, export_id))
    own_postgres.restart()

    assert answers
    for code, details in answers:
        assert code == "UNAVAILABLE", (code, details)
        assert "job store unavailable" in details
    assert _get(stub, export_id) == ("OK", "")


def test_sigterm_while_the_store_is_down_exits_within_the_grace_saying_why(
    daemon_factory: Callable[..., Daemon], own_postgres: PostgresServer, tmp_path: Path
) -> None:
    """The export cannot be handed back (nothing can be written): the daemon still exits
    within shutdown_grace_seconds (it overran it by the pool's 15 s wait, the waits of
    its scheduler and notifier added in turn), and says "job store unavailable" in one
    WARNING rather than an ERROR "unexpected failure in the runner" with a traceback."""
    sources, exports = tmp_path / "sources", tmp_path / "exports"
    sources.mkdir()
    exports.mkdir()
    rows = 1_000_000
    pl.DataFrame({"id": range(rows), "text": [f"row {i}" for i in range(rows)]}).write_parquet(
        sources / "a.parquet"
    )
    grace = 6.0
    daemon = daemon_factory(
        "d",
        job_store=own_postgres.new_database(),
        replica_id="replica-0",
        allowed_roots=[str(exports)],
        allowed_source_roots=[str(sources)],
        shutdown_grace_seconds=grace,
        batch_rows=1024,
    )
    daemon.start()
    spec = ExportClient.build_spec(
        source=str(sources / "a.parquet"),
        to=str(exports),
        dataset="a",
        format="jsonl",
        level=15,
        chunk_rows=20_000,
    )
    with ExportClient(daemon.address) as client:
        export_id = client.create(spec).id
        deadline = time.monotonic() + 120
        while client.get(export_id).progress.chunks < 2:
            assert time.monotonic() < deadline, daemon.log_tail()
            time.sleep(0.05)
    own_postgres.halt()
    time.sleep(1.0)  # the export's next journal write now waits for a connection
    # Within the grace and a second to close the pool (and the interpreter's exit).
    assert daemon.stop(timeout=grace + 3.0) == 0
    log = daemon.log_path.read_text()
    assert "unexpected failure in the runner" not in log, daemon.log_tail()
    # The export's own words about the outage come from threads the exit may cut short
    # (they came after "stopped", or not at all on a loaded machine); the last line says
    # it whatever they do.
    assert re.search(
        r"WARNING sluice: stopped \(some exports did not checkpoint in time: job store"
        r" unavailable: [^\n]*they resume after their last journalled chunk\)",
        log,
    ), daemon.log_tail()
    # Nor does a store closed by the stop itself read as a failure with a traceback.
    assert "Traceback" not in log, daemon.log_tail()


def _health(port: int, service: str) -> str:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=DEADLINE
        )
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def _until_ready_is(port: int, wanted: str, daemon: Daemon) -> list[str]:
    """Poll the probe port until readiness is `wanted`; the liveness answers seen."""
    live: list[str] = []
    deadline = time.monotonic() + NOTICE_SECONDS
    while True:
        live.append(_health(port, ""))
        if _health(port, "sluice.v1.ExportService") == wanted:
            return live
        assert time.monotonic() < deadline, (wanted, daemon.log_tail())
        time.sleep(0.5)


def test_readiness_follows_the_store_and_liveness_stays_serving(
    daemon_factory: Callable[..., Daemon], own_postgres: PostgresServer
) -> None:
    health_port = free_port()
    daemon = daemon_factory(
        "d",
        job_store=own_postgres.new_database(),
        replica_id="replica-0",
        health_address=f"127.0.0.1:{health_port}",
    )
    daemon.start()
    assert _health(health_port, "") == "SERVING"
    assert _health(health_port, "sluice.v1.ExportService") == "SERVING"

    own_postgres.halt()
    live_during = _until_ready_is(health_port, "NOT_SERVING", daemon)
    own_postgres.restart()
    live_after = _until_ready_is(health_port, "SERVING", daemon)

    assert set(live_during + live_after) == {"SERVING"}
    log = daemon.log_path.read_text()
    assert "job store has not answered for" in log, daemon.log_tail()
    assert "job store answers again: ready" in log, daemon.log_tail()


def test_a_scrape_during_an_outage_answers_at_once_saying_the_store_is_down(
    daemon_factory: Callable[..., Daemon], own_postgres: PostgresServer
) -> None:
    metrics_port = free_port()
    daemon = daemon_factory(
        "d",
        job_store=own_postgres.new_database(),
        replica_id="replica-0",
        metrics_address=f"127.0.0.1:{metrics_port}",
    )
    daemon.start()
    before = scrape(metrics_port)
    assert value(before, "sluice_job_store_up") == 1

    own_postgres.halt()
    # Each scrape waits at most scrape()'s 10 s (Prometheus' default scrape timeout).
    # Before, the first scrape met the broken connection and said 0 at once, and the
    # next ones waited the pool's 15 s for a new connection and failed.
    scrapes = []
    down_until = time.monotonic() + OUTAGE_SECONDS
    while time.monotonic() < down_until:
        scrapes.append(scrape(metrics_port))
    own_postgres.restart()

    assert len(scrapes) > 1
    checked = value(before, "sluice_job_store_last_check_timestamp_seconds")
    assert checked > 0
    for during in scrapes:
        assert value(during, "sluice_job_store_up") == 0
        # Everything else is still served: the last known counts, their time, the rest.
        assert value(during, "sluice_exports_queued") == 0
        assert value(during, "sluice_job_store_last_check_timestamp_seconds") >= checked
        assert {name for name, _ in before} <= {name for name, _ in during}
    deadline = time.monotonic() + NOTICE_SECONDS
    while value(scrape(metrics_port), "sluice_job_store_up") != 1:
        assert time.monotonic() < deadline, daemon.log_tail()
        time.sleep(0.5)
