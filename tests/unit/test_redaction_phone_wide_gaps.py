"""Phone numbers beside a tab or a run of two spaces or more (TSV rows pasted into a text
cell, columns aligned with spaces): a number's trail takes the gap, and cannot end before
a digit after a tab (the number before it stayed in clear) or takes the spaces whole with
the next number's lead (the number after them stayed in clear). Each is redacted as it
would be alone, through the redactor the pipeline uses; digit tables laid out with tabs
or spaces stay as they are."""

from __future__ import annotations

import pytest

from sluice.server.planning.spec import RedactionSpec
from tests.unit.phone_layouts import (
    assert_each_masked_as_alone,
    assert_each_tagged,
    one_pass_as_fenced,
    redacted,
)

#: Text with "{}" where each number goes, and the numbers.
BESIDE_GAPS = [
    ("{}\t{}", ["555-123-4567", "555-987-6543"]),
    ("{}  {}", ["555-123-4567", "555-987-6543"]),
    ("{}   {}", ["555-123-4567", "555-987-6543"]),
    ("{} \t {}", ["555-123-4567", "555-987-6543"]),
    ("{}\t\t{}", ["555-123-4567", "555-987-6543"]),
    ("a\t{}\t\t{}\tb", ["555-123-4567", "555-987-6543"]),
    ("{}\t{}\t{}", ["555 123 4567", "555.987.6543", "(555) 111-2222"]),
    ("{}  {}", ["+44 20 7946 0958", "+44 20 7946 0959"]),
    ("{}\t{}", ["01 23 45 67 89", "06 12 34 56 78"]),
    # A TSV row pasted into a text cell: the number before a short one stayed in clear.
    ("name\tphone\nann\t{}\t12", ["555-123-4567"]),
    ("{}\t12", ["555 123 4567"]),
    ("ann\t{}\t2024-05-06\t12.50", ["(555) 123-4567"]),
    ("1001\t{}\t3", ["555-123-4567"]),
    ("id  name   phone\n1   ann    {}  2", ["555-123-4567"]),
    ("{}  7 apples", ["+1 555 123 4567"]),
]

#: Digit tables laid out with tabs or spaces, no phone numbers: none is tagged as one.
LOOK_ALIKES = [
    "100\t200\t300",
    "2024-05-06\t12.50\t3",
    "id  qty  price\n1001  2  9.99",
    "a\t1\t2\t3\t4\t5\t6\t7\t8\t9",
    "12  34  56  78",
    "2024-05-06  2024-06-07  2024-07-08",
    "ip\t192.168.1.10\t10.0.0.1",
    "v 1.2.3\t1.2.4\t10.0.19045.2006",
    "ids\t123456\t654321\t111111",
    "total  1.234.567  2.345.678 EUR",
]


@pytest.mark.parametrize("level", ["moderate", "strict"])
def test_each_number_beside_a_gap_is_tagged(level: str) -> None:
    assert_each_tagged(BESIDE_GAPS, level)


def test_each_number_beside_a_gap_is_masked_as_alone() -> None:
    assert_each_masked_as_alone(BESIDE_GAPS)


@pytest.mark.parametrize("level", ["moderate", "strict"])
def test_digit_tables_beside_gaps_stay(level: str) -> None:
    texts = redacted(LOOK_ALIKES, RedactionSpec(level=level))
    assert [text for text in texts if "PHONE" in text] == []


def test_one_pass_and_fenced_rewrite_agree_beside_gaps() -> None:
    """The one-pass rewrite puts the joiners in before it extracts its candidates, the
    fenced rewrite after its own scan of the rows: the same texts."""
    one_pass = one_pass_as_fenced(
        [*(layout.format(*numbers) for layout, numbers in BESIDE_GAPS), *LOOK_ALIKES]
    )
    assert "555-987-6543" not in "".join(one_pass)
