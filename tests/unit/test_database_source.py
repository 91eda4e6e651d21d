"""Database sources below the daemon: the stored spec stays compatible, URIs are
classified as source-only, declared SQLite types map to Arrow faithfully."""

from __future__ import annotations

import polars as pl
import pytest

from sluice.server.pipeline.database_source import sqlite_type
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
        ("NUMERIC", pl.Float64()),
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
