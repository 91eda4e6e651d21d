"""Flags, counters, timestamps and provenance named after a category (`dob_verified`,
`birthday_count`, `latitude_updated_at`, `birthdate_source`) hold no birth date, id or
coordinate: a level default leaves them as they are instead of nulling them. A Boolean
passes every level default (one bit holds none of them)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import rule, run

STRICT = RedactionSpec(level="strict")
WHEN = dt.datetime(2024, 3, 4, 5, 6)


@pytest.mark.parametrize(
    "name",
    [
        "dob_verified",
        "DOBVerified",
        "birthday_reminder",
        "birthdate_estimated",
        "latitude_known",
        "ssn_verified",
        "national_insurance_flag",
        "AccountNumberMasked",
        "card_number_valid",
        "is_pan",
    ],
)
def test_a_boolean_passes_every_level_default(name: str) -> None:
    out, counts = run(pl.DataFrame({name: [True, False, None]}), STRICT)
    assert out[name].to_list() == [True, False, None]
    assert counts == {}


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("birthday_count", [3, 0]),
        ("birthday_reminder_sent", [1, 0]),
        ("latitude_updated_at", [WHEN, None]),
        ("dob_checked_at", [WHEN, None]),
        ("birthdate_source", ["form", "import"]),
        ("dob_verified", ["yes", "no"]),
        ("longitude_source", ["gps", "ip"]),
    ],
)
def test_a_flag_counter_or_timestamp_named_after_a_category_is_kept(
    name: str, values: list[object]
) -> None:
    out, counts = run(pl.DataFrame({name: values}), STRICT)
    assert out[name].to_list() == values
    assert counts == {}


def test_an_integer_year_of_birth_stays_the_year() -> None:
    frame = pl.DataFrame({"dob_year": [1990, 2099, 1799, 19900506, 7]})
    out, _ = run(frame, STRICT)
    assert out["dob_year"].to_list() == [1990, 2099, None, 1990, None]


def test_a_policy_or_template_rule_still_applies_to_a_boolean_or_a_flag() -> None:
    frame = pl.DataFrame({"dob_verified": [True], "dob_checked_at": [WHEN]})
    rules = [rule("column=dob_verified:null"), rule("column=dob_checked_at:redact")]
    out, _ = run(frame, RedactionSpec(level="strict", template_rules=rules))
    assert out.row(0) == (None, "[REDACTED]")
