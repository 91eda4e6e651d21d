"""Values an export records beside its records (the cursor watermark, the time range)
are in clear: build_plan refuses a cursor or time column whose values redaction would
rewrite, whether or not the column is among the exported ones."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from sluice.server.errors import FailedPrecondition, InvalidArgument
from sluice.server.execution.manifest_writer import next_watermark
from sluice.server.jobs.model import ChunkRecord
from sluice.server.planning.plan import ExportPlan, build_plan
from sluice.server.planning.spec import (
    DestinationSpec,
    ExportSpec,
    IncrementalSpec,
    QuerySpec,
    RedactionRuleSpec,
    RedactionSpec,
    SourceSpec,
    TimeRange,
)
from sluice.server.planning.watermarks import watermark_hides_a_card
from sluice.server.settings import load_settings

EXPORT_ID = "20250101T000000Z-0123456789ab"
_CHUNK = ChunkRecord(
    index=0,
    path="part-000000.jsonl.zst",
    records=2,
    stored_bytes=10,
    sha256="a" * 64,
    content_digest="hmac-sha256:" + "b" * 64,
    source_start=0,
    source_end=2,
    committed_at=datetime(2026, 1, 3, tzinfo=UTC),
    counters=(),
    cursor_max=None,
)


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
            "amount": [1.5, 2.5],
            "card_decimal": pl.Series(
                [Decimal(4111111111111111), Decimal(42)], dtype=pl.Decimal(20, 0)
            ),
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


@pytest.mark.parametrize("columns", [(), ("id", "notes")])
def test_a_text_cursor_that_content_patterns_read_is_refused(
    tmp_path: Path, columns: tuple[str, ...]
) -> None:
    # No rule claims `contact`, but the email pattern rewrites the address inside it.
    message = _refused(
        tmp_path,
        "moderate",
        "spec.incremental.cursor",
        "contact",
        query=QuerySpec(columns=columns),
        incremental=IncrementalSpec(mode="full", cursor="contact"),
    )
    assert "sentinel" not in message


def test_a_text_cursor_kept_by_a_rule_is_accepted(tmp_path: Path) -> None:
    keep = (RedactionRuleSpec(column="ref", action="keep"),)
    plan = _plan(tmp_path, "moderate", keep, incremental=IncrementalSpec(mode="full", cursor="ref"))
    assert plan.cursor == "ref"


def test_an_integer_cursor_is_planned_under_strict_and_checked_for_cards(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "strict", incremental=IncrementalSpec(mode="full", cursor="id"))
    assert plan.cursor_checks == "CARD"
    dtype = pl.Int64()
    assert watermark_hides_a_card(plan.cursor_checks, 4111111111111111, dtype)
    # An id of up to 12 digits is never a card; nor is a 16-digit number failing Luhn.
    assert not watermark_hides_a_card(plan.cursor_checks, 999_999_999_999, dtype)
    assert not watermark_hides_a_card(plan.cursor_checks, 4111111111111112, dtype)
    assert not watermark_hides_a_card("", 4111111111111111, dtype)


def test_a_card_number_watermark_fails_the_manifest_not_recorded(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "strict", incremental=IncrementalSpec(mode="full", cursor="card_like"))
    chunk = replace(_CHUNK, cursor_max=4111111111111111)
    with pytest.raises(FailedPrecondition) as refused:
        next_watermark(plan, [chunk])
    assert "4111" not in str(refused.value) and repr("card_like") in str(refused.value)
    # The rows hold the same value on every run: say so, and how to remove the chunks.
    assert "resuming" in str(refused.value)
    assert f"sluice export delete {plan.export_id}" in str(refused.value)
    assert next_watermark(plan, [replace(chunk, cursor_max=2)]) is not None


def test_a_card_number_decimal_watermark_fails_the_manifest_not_recorded(tmp_path: Path) -> None:
    # A whole Decimal(20, 0) is checked for cards in the records; its watermark is text.
    plan = _plan(
        tmp_path, "strict", incremental=IncrementalSpec(mode="full", cursor="card_decimal")
    )
    assert plan.cursor_checks == "CARD"
    chunk = replace(_CHUNK, cursor_max="4111111111111111")
    with pytest.raises(FailedPrecondition) as refused:
        next_watermark(plan, [chunk])
    assert "4111" not in str(refused.value) and repr("card_decimal") in str(refused.value)
    assert watermark_hides_a_card("CARD", "4111111111111111", pl.Decimal(20, 0))
    assert not watermark_hides_a_card("CARD", "4111111111111112", pl.Decimal(20, 0))
    # A decimal with a fraction cannot be a card number (not read by the check).
    assert not watermark_hides_a_card("CARD", "4111111111111111.00", pl.Decimal(20, 2))
    watermark = next_watermark(plan, [replace(chunk, cursor_max="42")])
    assert watermark is not None and watermark.value == "42"


@pytest.mark.parametrize("columns", [(), ("id", "notes")])
def test_a_time_range_on_a_column_redaction_rewrites_is_refused(
    tmp_path: Path, columns: tuple[str, ...]
) -> None:
    # Strict reduces a date of birth to its year; the bounds would give the day.
    since, until = datetime(1970, 3, 14, tzinfo=UTC), datetime(1970, 3, 15, tzinfo=UTC)
    message = _refused(
        tmp_path,
        "strict",
        "spec.query.time_range.column",
        "birth_date",
        query=QuerySpec(columns=columns, time_range=TimeRange("birth_date", since, until)),
    )
    assert "1970" not in message


def test_a_time_range_on_a_kept_column_is_accepted(tmp_path: Path) -> None:
    since = datetime(2026, 1, 2, tzinfo=UTC)
    plan = _plan(tmp_path, "strict", query=QuerySpec(time_range=TimeRange("updated_at", since)))
    assert plan.spec.query.time_range is not None
    keep = (RedactionRuleSpec(column="birth_date", action="keep"),)
    day = QuerySpec(time_range=TimeRange("birth_date", datetime(1970, 3, 14, tzinfo=UTC)))
    assert _plan(tmp_path, "strict", keep, query=day).spec.query == day


@pytest.mark.parametrize("journalled", [float("inf"), float("nan")])
def test_a_non_finite_chunk_maximum_journalled_by_an_earlier_version_is_never_the_watermark(
    tmp_path: Path, journalled: float
) -> None:
    # A journal written before non-finite cursors were left out: the manifest's
    # to_json(allow_nan=False) would fail at commit, on every resume.
    plan = _plan(tmp_path, "moderate", incremental=IncrementalSpec(mode="full", cursor="amount"))
    chunks = [replace(_CHUNK, cursor_max=2.5), replace(_CHUNK, index=1, cursor_max=journalled)]
    watermark = next_watermark(plan, chunks)
    assert watermark is not None and watermark.value == 2.5
