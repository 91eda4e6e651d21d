"""Values an export records beside its records (the cursor watermark, the time range)
are in clear: build_plan refuses a cursor or time column whose values redaction would
rewrite, whether or not the column is among the exported ones."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from sluice.server.errors import InvalidArgument
from sluice.server.planning.plan import ExportPlan, build_plan
from sluice.server.planning.spec import (
    DestinationSpec,
    ExportSpec,
    IncrementalSpec,
    QuerySpec,
    RedactionRuleSpec,
    RedactionSpec,
    SourceSpec,
)
from sluice.server.settings import load_settings

EXPORT_ID = "20250101T000000Z-0123456789ab"


def _plan(
    tmp_path: Path, level: str, rules: tuple[RedactionRuleSpec, ...] = (), **fields: Any
) -> ExportPlan:
    sources, exports = tmp_path / "sources", tmp_path / "exports"
    sources.mkdir(exist_ok=True)
    exports.mkdir(exist_ok=True)
    source = sources / "people.parquet"
    pl.DataFrame(
        {
            "id": [1, 2],
            "email": ["alice.sentinel@example.com", "bob@example.com"],
            "contact": ["zzz alice.sentinel@example.com", "zzz"],
            "ref": ["a1", "a2"],
            "notes": ["x", "y"],
            "birth_date": [date(1970, 3, 14), date(1971, 1, 1)],
            "updated_at": [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2)],
            "card_like": pl.Series([4111111111111111, 2], dtype=pl.Int64),
        }
    ).write_parquet(source)
    settings = load_settings(
        None,
        {
            "state_dir": tmp_path / "state",
            "allowed_roots": [exports],
            "allowed_source_roots": [sources],
        },
        environ={},
    )
    spec = ExportSpec(
        source=SourceSpec(str(source)),
        destination=DestinationSpec(str(exports), "people"),
        redaction=RedactionSpec(level=level, rules=rules),
        **fields,
    )
    return build_plan(spec, settings, EXPORT_ID, owner="")


def _refused(tmp_path: Path, level: str, field: str, column: str, **fields: Any) -> str:
    with pytest.raises(InvalidArgument) as refused:
        _plan(tmp_path, level, **fields)
    assert refused.value.violations[0].field == field
    assert repr(column) in str(refused.value)
    return str(refused.value)


@pytest.mark.parametrize("columns", [("id", "notes"), ("id",)])
def test_a_rewritten_cursor_outside_the_selected_columns_is_refused(
    tmp_path: Path, columns: tuple[str, ...]
) -> None:
    message = _refused(
        tmp_path,
        "moderate",
        "spec.incremental.cursor",
        "email",
        query=QuerySpec(columns=columns),
        incremental=IncrementalSpec(mode="full", cursor="email"),
    )
    assert "sentinel" not in message


def test_a_kept_cursor_outside_the_selected_columns_is_accepted(tmp_path: Path) -> None:
    plan = _plan(
        tmp_path,
        "moderate",
        query=QuerySpec(columns=("id", "notes")),
        incremental=IncrementalSpec(mode="full", cursor="updated_at"),
    )
    assert plan.cursor == "updated_at"
