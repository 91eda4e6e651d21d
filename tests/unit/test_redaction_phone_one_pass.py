"""The phone rule rewritten in one pass (text.rewrite_checked: candidates checked once,
rows whose candidates all pass replaced directly) gives exactly what the check and the
fenced rewrite it stands in for give (may_rewrite, then rewrite_text where it holds),
and `phone_values` reads the value the pattern's own group holds."""

from __future__ import annotations

import polars as pl
import pytest

from sluice.server.pipeline.redaction.candidate_checks import may_rewrite
from sluice.server.pipeline.redaction.entities import ENTITY_BY_NAME
from sluice.server.pipeline.redaction.phone_one_pass import rewrite_checked, rewrites_in_one_pass
from sluice.server.pipeline.redaction.phone_values import phone_values
from sluice.server.pipeline.redaction.policy import entity_rule
from sluice.server.pipeline.redaction.text import rewrite_text
from tests.unit.redaction_corpus import generate

PHONE = ENTITY_BY_NAME["PHONE"]
RULE = entity_rule(PHONE, "redact")

# Leads and layouts where reading the value from the whole match could go wrong, rows
# mixing a phone with look-alikes, joined values and control characters.
TRICKY = [
    "call (555) 123-4567 today",
    "(555) 123-4567 opens the text",
    "((555) 123-4567)",
    "(5551234567) in parentheses",
    "(+44 20 7946 0958)",
    "(12)3456789012",
    "9*+44 20 7946 0958",
    "**555-123-4567** in bold",
    "x***(020) 7946 0958",
    "2024-05-06 and +1 555-123-4567 and 123-45-6789",
    "555-123-4567,555-765-4321;020 7946 0958|4111111111111111",
    "+1 555 123 4567 ext. 89 then",
    "+1 (555) 1234567x12",
    "tracking 12345678901234567890 only",
    "order ORD-2025-001234 shipped 03.04.2025",
    "a\x01b +1 555-123-4567",
    "a\x02b 555-123-4567,555-765-4321",
    "nothing here",
    "",
    None,
]


def _corpus() -> list[str | None]:
    return [sample.text for sample in generate(per_kind=40, seed=5)]


def _both(texts: list[str | None]) -> tuple[list[str | None], list[str | None]]:
    frame = pl.DataFrame({"t": texts}, schema={"t": pl.String})
    text = pl.col("t")
    gated = text.str.contains(RULE.gate).fill_null(False)
    checked = gated & may_rewrite(text, RULE).fill_null(False)
    before = frame.select(pl.when(checked).then(rewrite_text(text, RULE)).otherwise(text))
    after = frame.select(pl.when(gated).then(rewrite_checked(text, RULE)).otherwise(text))
    return before.to_series().to_list(), after.to_series().to_list()


def test_the_default_phone_rule_is_rewritten_in_one_pass() -> None:
    assert rewrites_in_one_pass(RULE)
    masked = entity_rule(PHONE, "mask", 4)
    assert not rewrites_in_one_pass(masked)


@pytest.mark.parametrize("texts", [TRICKY, _corpus()], ids=["tricky", "corpus"])
def test_one_pass_gives_the_checked_and_fenced_rewrite(texts: list[str | None]) -> None:
    before, after = _both(texts)
    assert after == before
    # The tricky rows hold phones that are replaced, and look-alikes that stay.
    if texts is TRICKY:
        assert after[0] == "call [PHONE] today"
        assert after[9] == "2024-05-06 and [PHONE] and 123-45-6789"
        assert after[13:15] == texts[13:15]


def test_one_pass_in_list_elements_gives_the_same() -> None:
    frame = pl.DataFrame({"l": [TRICKY[:8], TRICKY[8:], None, []]})
    element = pl.element()
    before = frame.select(
        pl.col("l").list.eval(
            pl.when(may_rewrite(element, RULE)).then(rewrite_text(element, RULE)).otherwise(element)
        )
    )
    after = frame.select(pl.col("l").list.eval(rewrite_checked(element, RULE)))
    assert after.to_series().to_list() == before.to_series().to_list()


@pytest.mark.parametrize("texts", [TRICKY, _corpus()], ids=["tricky", "corpus"])
def test_phone_value_is_the_patterns_value_group(texts: list[str | None]) -> None:
    matches = (
        pl.DataFrame({"t": texts}, schema={"t": pl.String})
        .select(pl.col("t").str.extract_all(PHONE.regex).explode().drop_nulls().alias("m"))
        .filter(pl.col("m").is_not_null())
    )
    assert matches.height > 0
    group = matches.select(pl.col("m").str.extract_groups(PHONE.regex).struct.field("sl_value"))
    assert phone_values(matches["m"], PHONE.value).to_list() == group.to_series().to_list()
