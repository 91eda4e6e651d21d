"""Checks shared by the tests of phone numbers laid out beside each other (on lines,
beside tabs or wide gaps): each number in a layout is redacted as it would be alone,
and the one-pass and fenced rewrites agree."""

from __future__ import annotations

import polars as pl

from sluice.server.pipeline.redaction.candidate_checks import may_rewrite
from sluice.server.pipeline.redaction.entities import ENTITY_BY_NAME
from sluice.server.pipeline.redaction.phone_one_pass import rewrite_checked
from sluice.server.pipeline.redaction.policy import entity_rule
from sluice.server.pipeline.redaction.text import rewrite_text
from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import rule, run

#: Text with "{}" where each number goes, and the numbers.
Layout = tuple[str, list[str]]


def redacted(values: list[str], spec: RedactionSpec) -> list[str]:
    out, _ = run(pl.DataFrame({"text": values}), spec)
    texts: list[str] = out["text"].to_list()
    return texts


def assert_each_tagged(layouts: list[Layout], level: str) -> None:
    texts = [layout.format(*numbers) for layout, numbers in layouts]
    expected = [layout.format(*["[PHONE]"] * len(numbers)) for layout, numbers in layouts]
    assert redacted(texts, RedactionSpec(level=level)) == expected


def assert_each_masked_as_alone(layouts: list[Layout]) -> None:
    spec = RedactionSpec(level="custom", rules=(rule("pattern=PHONE:mask:4"),))
    texts = [layout.format(*numbers) for layout, numbers in layouts]
    masked = [
        layout.format(*("*" * (len(number) - 4) + number[-4:] for number in numbers))
        for layout, numbers in layouts
    ]
    assert redacted(texts, spec) == masked


def one_pass_as_fenced(texts: list[str]) -> list[str]:
    """`texts` through the one-pass rewrite, asserted equal to the fenced rewrite's."""
    phone_rule = entity_rule(ENTITY_BY_NAME["PHONE"], "redact")
    frame = pl.DataFrame({"t": texts})
    text = pl.col("t")
    checked = may_rewrite(text, phone_rule).fill_null(False)
    fenced = frame.select(pl.when(checked).then(rewrite_text(text, phone_rule)).otherwise(text))
    one_pass: list[str] = frame.select(rewrite_checked(text, phone_rule)).to_series().to_list()
    assert one_pass == fenced.to_series().to_list()
    return one_pass
