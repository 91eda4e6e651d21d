"""`sluice migrate`: bring the configured job store to this binary's schema, or with
`--check` only say where it stands (exit 1 when it is behind, or newer than this binary),
writing nothing. The daemon migrates at start anyway; this is for upgrade pipelines that
want to migrate (or verify) before rolling out replicas."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from sluice.server.errors import SluiceError
from sluice.server.jobs.migrations import SchemaStatus
from sluice.server.jobs.sqlite import SQLiteJobStore, sqlite_schema_status
from sluice.server.settings import Settings, SettingsError, ignored_environment, load_settings


def migrate(config_file: Path | None, overrides: Mapping[str, object], *, check: bool) -> int:
    """Run the command; return the process exit status (2: bad settings)."""
    try:
        settings = load_settings(config_file, overrides)
    except SettingsError as exc:
        print(f"sluice: error: {exc}", file=sys.stderr)
        return 2
    for name in ignored_environment(settings):
        print(
            f"sluice: warning: ignoring environment variable {name}: not a setting", file=sys.stderr
        )
    try:
        status = schema_status(settings)
        if check or status.newer or not status.behind:
            print(status.describe())
            return 1 if (status.behind or status.newer) else 0
        apply_migrations(settings)
        print(schema_status(settings).describe())
        return 0
    except SluiceError as exc:
        print(f"sluice: error: {exc.message}", file=sys.stderr)
        return 1


def schema_status(settings: Settings) -> SchemaStatus:
    """The configured store's schema version against this binary's, read only."""
    if settings.job_store_kind == "sqlite":
        return sqlite_schema_status(settings.job_store_path)
    from sluice.server.jobs.postgres import read_schema_status

    return read_schema_status(settings)


def apply_migrations(settings: Settings) -> None:
    if settings.job_store_kind == "sqlite":
        SQLiteJobStore(settings.job_store_path).close()
        return
    from sluice.server.jobs.recovery import open_job_store

    # Migrating beside running replicas is allowed: the advisory lock serialises it with
    # the migrations of replicas that start meanwhile.
    open_job_store(settings.model_copy(update={"recover_job_store": False})).close()
