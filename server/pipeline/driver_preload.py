"""Database drivers imported while the daemon starts, not by the first export.

ADBC's PostgreSQL driver manager, psycopg and pglast take about half a second to import
on the test machine, which the first PostgreSQL export of a fresh daemon (or of a new
replica taking over a job) would otherwise spend before reading a row. The imports run
on a thread beside the daemon's other start-up work (job store, TLS, gRPC server) and are
done before it serves. Only the kinds of the configured source profiles are imported:
a daemon without a PostgreSQL profile cannot read PostgreSQL, and pays nothing.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Iterable

_log = logging.getLogger(__name__)

#: Modules each source profile kind's reads import (their parents come with them).
_MODULES: dict[str, tuple[str, ...]] = {
    "postgresql": (
        "adbc_driver_postgresql.dbapi",
        "psycopg.conninfo",
        "pglast.parser",
        "sluice.server.pipeline.database_source",
    ),
}


def preload_drivers(kinds: Iterable[str]) -> threading.Thread:
    """Start importing the drivers of the profile `kinds`; join the thread before
    serving. A module that fails to import is logged, not raised: the export that
    needs it reports the failure where it happens."""
    modules = [name for kind in sorted(set(kinds)) for name in _MODULES.get(kind, ())]

    def run() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the export that needs it fails, naming it
                _log.warning("database driver module %s cannot be imported", name, exc_info=True)

    thread = threading.Thread(target=run, name="driver-preload", daemon=True)
    thread.start()
    return thread
