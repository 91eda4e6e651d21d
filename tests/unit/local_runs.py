"""The setting of an in-process run between two local folders: a Parquet source of
`rows` ids and the daemon settings that allow it and the output folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from sluice.server.settings import Settings, load_settings


@dataclass(frozen=True)
class LocalRun:
    source: Path
    out: Path
    settings: Settings


def local_run(tmp_path: Path, rows: int, **settings: object) -> LocalRun:
    """`tmp_path`/in/events.parquet with ids 0..rows-1, exports allowed into
    `tmp_path`/out; `settings` add to (or replace) the daemon's."""
    source = tmp_path / "in" / "events.parquet"
    source.parent.mkdir()
    pl.DataFrame({"id": range(rows)}).write_parquet(source)
    out = tmp_path / "out"
    loaded = load_settings(
        None,
        {
            "state_dir": tmp_path / "state",
            "replica_id": "here",
            "allowed_source_roots": [str(source.parent)],
            "allowed_roots": [str(out)],
            **settings,
        },
        environ={},
    )
    return LocalRun(source, out, loaded)
