"""A busy PostgreSQL job store is not a failing one: reads wait the short outage wait
only while the store is known to be failing (server/jobs/postgres.py _failing). Real
PostgreSQL; every pooled connection is held by a slow caller for longer than that wait."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from sluice.server.jobs.postgres import _READ_WAIT_SECONDS, PostgresJobStore
from tests.servers.postgres import PostgresServer


def test_a_read_waits_for_a_busy_healthy_store(postgres_server: PostgresServer) -> None:
    store = PostgresJobStore(postgres_server.new_database(), pool_size=2)
    try:
        holding = threading.Barrier(3, timeout=30)

        def slow() -> None:
            with store._conn():
                holding.wait()
                time.sleep(_READ_WAIT_SECONDS + 1.5)  # a slow query on a healthy store

        holders = [threading.Thread(target=slow) for _ in range(2)]
        for holder in holders:
            holder.start()
        holding.wait()  # both connections taken
        assert store.list_schedules() == []  # waited for one, not "job store unavailable"
        for holder in holders:
            holder.join()
    finally:
        store.close()


def test_the_pools_connection_warnings_are_rate_limited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # psycopg_pool warns at each failed attempt: 27 WARNINGs per replica in a 15 s outage.
    import sluice.server.jobs.postgres  # noqa: F401 - installs the limit

    pool_log = logging.getLogger("psycopg.pool")
    with caplog.at_level(logging.WARNING, logger="psycopg.pool"):
        for attempt in range(27):
            pool_log.warning("error connecting in %r: connection refused", f"pool-{attempt}")
        pool_log.error("an error always shows")
    levels = [record.levelno for record in caplog.records if record.name == "psycopg.pool"]
    assert levels.count(logging.WARNING) <= 1 and levels.count(logging.ERROR) == 1
