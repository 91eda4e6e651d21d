"""Phone numbers side by side that the PHONE pattern cannot read as one run: one starts
with "+" or an area code in parentheses, or is dotted, or the two are French numbers
(five pairs of digits each). Each number is redacted as it would be alone, through the
redactor the pipeline uses; look-alikes beside each other stay as they are."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from sluice.server.pipeline.redaction.candidate_checks import may_rewrite
from sluice.server.pipeline.redaction.entities import ENTITY_BY_NAME
from sluice.server.pipeline.redaction.phone_one_pass import rewrite_checked
from sluice.server.pipeline.redaction.policy import entity_rule
from sluice.server.pipeline.redaction.text import rewrite_text
from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import rule, run, settings_with_keys

#: Text with "{}" where each number goes, and the numbers.
SIDE_BY_SIDE = [
    ("call {} {}", ["+1 555 123 4567", "+1 555 987 6543"]),
    ("call {} {}", ["+1-555-123-4567", "+1-555-987-6543"]),
    ("call {} {}", ["+1.555.123.4567", "+1.555.987.6543"]),
    ("call {} {}", ["+1 (555) 123-4567", "+1 (555) 987-6543"]),
    ("call {} {} now", ["555-123-4567", "+1 555 987 6543"]),
    ("call {} {}", ["(555) 123-4567", "(555) 987-6543"]),
    ("{} {}", ["+1 555 123 4567", "(555) 987-6543"]),
    ("{} {} {}", ["+44 20 7946 0958", "+44 20 7946 0959", "+44 20 7946 0960"]),
    ("{} {}", ["555.123.4567", "555.987.6543"]),
    ("call {} {} {} now", ["555.123.4567", "555.987.6543", "555.111.2222"]),
    ("{} {}", ["555-987-6543", "555.123.4567"]),
    ("{} {}", ["555.123.4567", "555-987-6543"]),
    ("{} {}", ["01.23.45.67.89", "06.12.34.56.78"]),
    ("{} {}", ["01 23 45 67 89", "06 12 34 56 78"]),
    ("tel {} {} {}", ["01 23 45 67 89", "06 12 34 56 78", "04 91 22 33 44"]),
    ("{} {}", ["+33 1 23 45 67 89", "+33 6 12 34 56 78"]),
    ("{} {}", ["+33 1 23 45 67 89", "06 12 34 56 78"]),
    ("appel {} 2024-05-06", ["01 23 45 67 89"]),
]

#: Numbers side by side with something that is no phone number: each stays as it is.
LOOK_ALIKES = [
    "released 2024-05-06 2024-06-07 2024-07-08",
    "dates 06.05.2024 07.05.2024 08.05.2024",
    "versions 1.2.3 1.2.4 10.0.19045.2006",
    "v1.10.2 2.0.1 3.14.15 now",
    "prices 12.50 13.75 1.234.567 8.99",
    "total 1.234.567 2.345.678 3.456.789 EUR",
    "pi 3.14 2.71 1.41 1.73",
    "decimals 3.14159 2.71828 1.41421",
    "IBAN DE89 3704 0044 0532 0130 00",
    "order ORD-2025-001234 ORD-2025-001235",
    "orders 123456 654321 111111 222222 333333",
    "10 20 30 40 50 60 70 80",
    "minutes 05 10 15 20 25 30 35 40",
    "05 10 15 20 25 30 35 40 45 50",
    "lot 1 2 3 4 5 6 7 8 9 10 11 12 13 14",
    "scores 12.5 13.5 14.5 15.5 16.5 17.5 18.5 19.5",
    "ip 192.168.1.10 10.0.0.1 172.16.0.1",
    "times 10.30 11.45 12.15 13.00",
    "card ending 4111 1111 1111 1111 expired",
]

#: A dot and a space inside one number after a "+" are no boundary; a "(" after a number
#: is one only before an area code; a number beside a decimal is parted from it.
ONE_NUMBER = {
    "+1 555.123 4567 then": "[PHONE] then",
    "+1 555.123.4567 89": "[PHONE]",
    "555.123.4567 555.987.6543 or +1 555.123 4567": "[PHONE] [PHONE] or [PHONE]",
    "555-123-4567 (evenings only)": "[PHONE] (evenings only)",
    "555-123-4567 (home) +1 (555) 987-6543": "[PHONE] (home) [PHONE]",
    "12345678 (555) 987-6543": "12345678 [PHONE]",
    "call 555 123 4567 3.5 stars": "call [PHONE] 3.5 stars",
    "555.123.4567 12 apples": "[PHONE] 12 apples",
}


def _texts(values: list[str], spec: RedactionSpec, tmp_path: Path | None = None) -> list[str]:
    settings = settings_with_keys(tmp_path, crm=b"k" * 32) if tmp_path else None
    out, _ = run(pl.DataFrame({"text": values}), spec, settings)
    texts: list[str] = out["text"].to_list()
    return texts


@pytest.mark.parametrize("level", ["moderate", "strict"])
def test_each_number_is_tagged(level: str) -> None:
    texts = [layout.format(*numbers) for layout, numbers in SIDE_BY_SIDE]
    expected = [layout.format(*["[PHONE]"] * len(numbers)) for layout, numbers in SIDE_BY_SIDE]
    assert _texts(texts, RedactionSpec(level=level)) == expected


def test_each_number_is_masked_as_alone() -> None:
    spec = RedactionSpec(level="custom", rules=(rule("pattern=PHONE:mask:4"),))
    texts = [layout.format(*numbers) for layout, numbers in SIDE_BY_SIDE]
    masked = [
        layout.format(*("*" * (len(number) - 4) + number[-4:] for number in numbers))
        for layout, numbers in SIDE_BY_SIDE
    ]
    assert _texts(texts, spec) == masked


def test_each_number_is_its_own_pseudonym(tmp_path: Path) -> None:
    spec = RedactionSpec(level="custom", rules=(rule("pattern=PHONE:hash:crm"),))
    numbers = sorted({number for _, its in SIDE_BY_SIDE for number in its})
    # Each number alone in a row of its own: its pseudonym.
    alone = _texts(numbers, spec, tmp_path)
    assert all(text.startswith("[PHONE:") and text.endswith("]") for text in alone)
    pseudonym = dict(zip(numbers, alone, strict=True))
    assert len(set(alone)) == len(numbers)
    texts = [layout.format(*its) for layout, its in SIDE_BY_SIDE]
    hashed = [layout.format(*(pseudonym[n] for n in its)) for layout, its in SIDE_BY_SIDE]
    assert _texts(texts, spec, tmp_path) == hashed


@pytest.mark.parametrize("level", ["moderate", "strict"])
def test_look_alikes_side_by_side_stay(level: str) -> None:
    texts = _texts(LOOK_ALIKES, RedactionSpec(level=level))
    assert [text for text in texts if "PHONE" in text] == []
    if level == "moderate":
        assert texts == LOOK_ALIKES


def test_one_pass_and_fenced_rewrite_agree() -> None:
    """The one-pass rewrite finds the boundaries from its candidates, the check and the
    fenced rewrite (mask and hash rules) by scans of the rows: the same texts."""
    phone = ENTITY_BY_NAME["PHONE"]
    rule = entity_rule(phone, "redact")
    texts = [
        *ONE_NUMBER,
        *(layout.format(*numbers) for layout, numbers in SIDE_BY_SIDE),
        *LOOK_ALIKES,
    ]
    frame = pl.DataFrame({"t": texts})
    text = pl.col("t")
    checked = may_rewrite(text, rule).fill_null(False)
    fenced = frame.select(pl.when(checked).then(rewrite_text(text, rule)).otherwise(text))
    one_pass = frame.select(rewrite_checked(text, rule))
    assert one_pass.to_series().to_list() == fenced.to_series().to_list()
    assert one_pass.to_series().to_list()[: len(ONE_NUMBER)] == list(ONE_NUMBER.values())


def test_thousands_of_french_numbers_in_one_value_are_each_tagged() -> None:
    """Source data may hold any value: 3,000 French numbers side by side (45 KB) are each
    tagged. Each number's check followed the chain of numbers after it by recursion, which
    overflowed Python's stack at about 1,500 (the export failed) and was quadratic below."""
    text = "tel " + " ".join(["01 23 45 67 89"] * 3000)
    out, _ = run(pl.DataFrame({"t": [text]}), RedactionSpec(level="moderate"))
    assert out["t"][0] == "tel " + " ".join(["[PHONE]"] * 3000)
