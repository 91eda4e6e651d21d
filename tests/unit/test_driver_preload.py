"""The driver preload imports on the calling thread and is done when it returns: the
job store imports psycopg right after it, and two threads importing psycopg at once can
each see the other's half-initialised module (a daemon died at start of that in CI)."""

from __future__ import annotations

from tests.unit.fresh_interpreter import run_fresh


def test_the_preload_is_done_on_the_calling_thread_when_it_returns() -> None:
    out = run_fresh(
        """
        import sys, threading
        from sluice.server.pipeline.driver_preload import preload_drivers
        before = set(sys.modules)
        assert preload_drivers(["postgresql"]) is None
        loaded = set(sys.modules) - before
        print(threading.active_count(), "psycopg.conninfo" in loaded,
              "adbc_driver_postgresql.dbapi" in loaded, "pglast.parser" in loaded)
        """
    )
    assert out == "1 True True True"


def test_kinds_without_drivers_import_nothing() -> None:
    out = run_fresh(
        """
        import sys
        from sluice.server.pipeline.driver_preload import preload_drivers
        preload_drivers(["sqlite", "duckdb"])
        drivers = ("psycopg", "adbc_driver_postgresql", "pglast")
        print(sorted(m for m in drivers if m in sys.modules))
        """
    )
    assert out == "[]"
