"""Database sources below the daemon: the stored spec stays compatible, URIs are
classified as source-only, declared SQLite types map to Arrow faithfully."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime

import polars as pl
import pytest

from sluice.server.pipeline.database_source import _bound_term, sqlite_type
from sluice.server.planning.spec import DestinationSpec, ExportSpec, SourceSpec
from sluice.sinks.locations import LocationRefused, classify, classify_source


def test_specs_stored_before_database_fields_load_and_keep_their_fingerprint() -> None:
    old = ExportSpec(SourceSpec("/d/x.parquet"), DestinationSpec("/out", "ds"))
    assert "table" not in old.to_json() and "order_by" not in old.to_json()
    assert ExportSpec.from_json(old.to_json()) == old
    new = ExportSpec(
        SourceSpec("sqlite:///d/x.db", query="SELECT 1 AS id", order_by=("id",)),
        DestinationSpec("/out", "ds"),
    )
    assert ExportSpec.from_json(new.to_json()) == new
    assert new.fingerprint() != old.fingerprint()


def test_database_uris_are_sources_only() -> None:
    assert classify_source("sqlite:///data/app.db").target == "/data/app.db"
    assert classify_source("duckdb:///data/a%20b.duckdb").target == "/data/a b.duckdb"
    assert classify_source("/data/x.parquet").kind == "local"
    for refused in ("sqlite://host/app.db", "sqlite://app.db", "duckdb:///x.db?mode=rw"):
        with pytest.raises(LocationRefused):
            classify_source(refused)
    with pytest.raises(LocationRefused, match="only be a source"):
        classify("sqlite:///data/app.db")


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("INTEGER", pl.Int64()),
        ("BIGINT", pl.Int64()),
        ("REAL", pl.Float64()),
        ("DOUBLE PRECISION", pl.Float64()),
        ("VARCHAR(20)", pl.String()),
        ("JSON", pl.String()),
        ("BLOB", pl.Binary()),
        ("DECIMAL(12, 3)", pl.Decimal(12, 3)),
        ("NUMERIC", pl.Float64()),  # from the declaration, never the values held
        ("DECIMAL", pl.Float64()),
        ("MONEY", pl.Float64()),
        ("FLOAT", pl.Float64()),
        ("TIMESTAMP", pl.Datetime("us")),
        ("TIMESTAMPTZ", pl.Datetime("us", "UTC")),
        ("DATETIME", pl.Datetime("us")),
        ("DATE", pl.Date()),
        ("BOOLEAN", pl.Boolean()),
        ("", None),
    ],
)
def test_declared_sqlite_types(declared: str, expected: pl.DataType | None) -> None:
    assert sqlite_type(declared) == expected


def test_a_sqlite_time_bound_passes_on_spellings_sqlite_cannot_read() -> None:
    """Pushed down, a time bound may pass more rows than it should (the pipeline filters
    them) but never fewer: a time in a spelling SQLite's datetime() cannot read, which the
    pipeline reads, is passed on rather than dropped."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (id INTEGER, at TEXT)")
    rows = [(1, "2024-01-15 10:00"), (2, "2024/01/15 10:00"), (3, "2023-12-01T00:00:00Z")]
    db.executemany("INSERT INTO t VALUES (?, ?)", rows)
    for since in (datetime(2024, 1, 1, tzinfo=UTC), date(2024, 1, 1)):
        sql, value = _bound_term("sqlite", "at", ">=", since)
        ids = [row[0] for row in db.execute(f"SELECT id FROM t WHERE {sql}", (value,))]
        assert ids == [1, 2], (since, sql)
