"""A level default never lets a value pass because of its type: a birth date stored as
the integer 19900506 (or 19900506.0, from pandas with NaN) becomes its year, and a
default whose action does not fit a type fails safe (null), never passes through."""

from __future__ import annotations

import datetime as dt
import decimal
import math

import polars as pl
import pytest

from sluice.server.pipeline.redaction.column_categories import COLUMN_CATEGORIES
from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import redactor_for, rule, run

STRICT = RedactionSpec(level="strict")


@pytest.mark.parametrize(
    ("dtype", "values", "expected"),
    [
        (pl.Int64, [19900506, 19901306, 1234, -19900506, None], [1990, None, None, None, None]),
        (pl.Int32, [19900506, 20240230], [1990, 2024]),
        (pl.UInt64, [19900506, 2**63 + 5], [1990, None]),
        (pl.Float64, [19900506.0, math.nan, 19900506.5, None], [1990.0, None, None, None]),
        (pl.Float32, [51.5], [None]),
    ],
)
def test_a_numeric_birth_date_becomes_its_year_or_null(
    dtype: pl.DataType, values: list[object], expected: list[object]
) -> None:
    frame = pl.DataFrame({"dob": pl.Series(values, dtype=dtype)})
    out, _ = run(frame, STRICT)
    assert out.schema["dob"] == dtype
    assert out["dob"].to_list() == expected


def test_a_policy_month_generalisation_of_a_numeric_birth_date() -> None:
    frame = pl.DataFrame({"dob": [19900506]})
    spec = RedactionSpec(level="strict", template_rules=[rule("column=dob:generalize:month")])
    out, _ = run(frame, spec)
    assert out["dob"].to_list() == [199005]


#: One value of each plain type a column can have.
TYPED_VALUES = {
    "Int64": pl.Series([19900506], dtype=pl.Int64),
    "Int32": pl.Series([19900506], dtype=pl.Int32),
    "UInt64": pl.Series([19900506], dtype=pl.UInt64),
    "Int8": pl.Series([7], dtype=pl.Int8),
    "Float64": pl.Series([19900506.0]),
    "Float32": pl.Series([51.5074], dtype=pl.Float32),
    "Decimal": pl.Series([decimal.Decimal("51.5074")], dtype=pl.Decimal(10, 4)),
    "Boolean": pl.Series([True]),
    "Date": pl.Series([dt.date(1990, 5, 6)]),
    "Datetime": pl.Series([dt.datetime(1990, 5, 6, 7, 8)]),
    "DatetimeTz": pl.Series([dt.datetime(1990, 5, 6, 7, 8)]).dt.replace_time_zone("UTC"),
    "Time": pl.Series([dt.time(7, 8)]),
    "Duration": pl.Series([dt.timedelta(days=3, seconds=7)]),
    "Binary": pl.Series([b"secret-bytes"]),
    "BinaryNotUtf8": pl.Series([b"\xff\xfe12345678"]),
    "String": pl.Series(["1990-05-06 secret"]),
    "Categorical": pl.Series(["1990-05-06 secret"], dtype=pl.Categorical),
}
#: Integers are coarser than a 0.1 degree bucket: a GEO column of them is unchanged.
_COARSER = {("GEO", t) for t in ("Int64", "Int32", "UInt64", "Int8", "Float64")}


@pytest.mark.parametrize("category", COLUMN_CATEGORIES, ids=lambda c: c.name)
@pytest.mark.parametrize("type_name", TYPED_VALUES)
def test_no_default_passes_a_value_through_because_of_its_type(
    category: object, type_name: str
) -> None:
    name = category.globs[0].strip("*")  # type: ignore[attr-defined]
    column = TYPED_VALUES[type_name].alias(name)
    frame = column.to_frame()
    redactor = redactor_for(frame, STRICT)
    out, counts = run(frame, STRICT)
    assert out.schema == redactor.output_schema(frame.schema)
    before, after = column[0], out[name][0]
    if type_name == "Boolean":
        # One bit holds no birth date, id or coordinate: every default passes it.
        assert (after, counts) == (before, {})
        return
    if (category.name, type_name) in _COARSER:  # type: ignore[attr-defined]
        assert after == float(before)
        return
    keep_last = category.keep_last  # type: ignore[attr-defined]
    if keep_last and len(str(before)) <= keep_last:
        # A mask hides a value no longer than the digits it keeps whole (`7` -> `*`).
        assert after == "*" * len(str(before))
        assert counts, (category, type_name)
        return
    assert after != before
    if after is not None and not isinstance(after, (int, float)):
        assert str(before) not in str(after)
    assert counts, (category, type_name)


def test_a_whole_decimal_birth_date_becomes_its_year() -> None:
    values = [decimal.Decimal(19900506), decimal.Decimal(1990), decimal.Decimal(12), None]
    frame = pl.DataFrame({"dob": pl.Series(values, dtype=pl.Decimal(10, 0))})
    out, _ = run(frame, STRICT)
    assert out.schema["dob"] == pl.Decimal(10, 0)
    assert out["dob"].to_list() == [decimal.Decimal(1990), decimal.Decimal(1990), None, None]


def test_template_rules_apply_when_the_level_is_none() -> None:
    """A template's own rules under level none are rules all the same: the shortcut to
    no redaction must not drop them (it once looked only at the request's and the
    policy's rules)."""
    frame = pl.DataFrame({"notes": ["reach me at ana@example.com"], "email": ["ana@example.com"]})
    spec = RedactionSpec(
        level="none",
        template_rules=(rule("column=email:redact"), rule("pattern=EMAIL:redact")),
    )
    out, counts = run(frame, spec)
    assert "ana@example.com" not in out["email"].to_list()[0]
    assert "ana@example.com" not in out["notes"].to_list()[0]
    assert counts
