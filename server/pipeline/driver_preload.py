"""Database drivers imported while the daemon starts, not by the first export.

ADBC's PostgreSQL driver manager, psycopg and pglast take about half a second to import
on the test machine, which the first PostgreSQL export of a fresh daemon (or of a new
replica taking over a job) would otherwise spend before reading a row. The imports run
first thing, on the main thread, before any other start-up work: never on a thread beside
it. The job store imports psycopg too, and two threads importing one package whose
modules import each other can each see the other's half-initialised module (psycopg's
``conninfo`` and ``connection`` do: "cannot import name 'conninfo_attempts' from
partially initialized module", which killed a daemon at start in CI). Only the kinds of
the configured source profiles are imported: a daemon without a PostgreSQL profile
cannot read PostgreSQL, and pays nothing.
"""

from __future__ import annotations

import importlib
import logging
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


def preload_drivers(kinds: Iterable[str]) -> None:
    """Import the drivers of the profile `kinds`, on the calling thread. A module that
    fails to import is logged, not raised: the export that needs it reports the
    failure where it happens."""
    for name in (name for kind in sorted(set(kinds)) for name in _MODULES.get(kind, ())):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the export that needs it fails, naming it
            _log.warning("database driver module %s cannot be imported", name, exc_info=True)
