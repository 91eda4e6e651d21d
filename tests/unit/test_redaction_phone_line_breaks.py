"""Phone numbers on consecutive lines (address blocks, signatures): a number's trail
takes the line break and cannot end before the next line's digit, so the first number
was no candidate and stayed in clear. Each is redacted as it would be alone, through the
redactor the pipeline uses; look-alikes on consecutive lines stay as they are."""

from __future__ import annotations

import polars as pl
import pytest

from sluice.server.planning.spec import RedactionSpec
from tests.unit.phone_layouts import (
    assert_each_masked_as_alone,
    assert_each_tagged,
    one_pass_as_fenced,
    redacted,
)
from tests.unit.redaction_helpers import run

_LIST = [f"555-{100 + n:03d}-{4000 + n:04d}" for n in range(12)]
_LIST_ENDS = ["", "\n12 Main Street", "\nthanks", "\n5", " (home)"]

#: Text with "{}" where each number goes, and the numbers.
ON_LINES = [
    ("{}\n{}", ["555-123-4567", "555-987-6543"]),
    ("{}\u2028{}", ["555-123-4567", "555-765-4321"]),
    ("{}\u2029{}", ["555-123-4567", "555-765-4321"]),
    ("{}\r\n{}", ["555-123-4567", "555-765-4321"]),
    ("{}\r{}", ["555-123-4567", "555-765-4321"]),
    ("{} \n  {}", ["555-123-4567", "555-765-4321"]),
    ("{}\n\n{}", ["555-123-4567", "555-765-4321"]),
    ("call {}\n{} or mail", ["555-123-4567", "555-987-6543"]),
    ("Tel: {}\n{}\n{}", ["555 123 4567", "555.987.6543", "(555) 111-2222"]),
    ("{}\n{}", ["+44 20 7946 0958", "+44 20 7946 0959"]),
    ("{}\n{}", ["01 23 45 67 89", "06 12 34 56 78"]),
    ("office {}\n2024-05-06", ["555-123-4567"]),
    # Before a line starting with a short number (an address block): no candidate until
    # parted, so the number stayed in clear.
    ("John Doe\n{}\n12 Main Street", ["555-123-4567"]),
    ("Tel: {}\n2 Main St", ["(555) 123-4567"]),
    ("{}\n7 apples", ["+1 555 123 4567"]),
    ("{}\n{}\n5", ["555-123-4567", "555-987-6543"]),
    # ... and beside another candidate in the row (a number on the line before, or
    # after, a date): the row was picked from its candidates alone, and the number
    # before the digit line stayed in clear.
    ("Call {} or\n{}\n12 Main Street", ["555-123-4567", "555-987-6543"]),
    ("{}\n12 Main Street\ncell {}", ["555-987-6543", "555-123-4567"]),
    ("Invoice 2024-05-06 ref\n{}\n12 Main Street", ["555-987-6543"]),
    # A contact list: every number tagged, however the block ends (it was all or none).
    *(("Contacts:\n" + "\n".join(["{}"] * 12) + end, _LIST) for end in _LIST_ENDS),
    # The other characters Unicode reads as a line break: vertical tab, form feed, NEL.
    ("{}\x0b{}", ["555-123-4567", "555-987-6543"]),
    ("{}\x0c{}", ["555-123-4567", "555-987-6543"]),
    ("{}\x85{}", ["555-123-4567", "555-987-6543"]),
    ("a\x0b{}\x0b12 Main", ["555-123-4567"]),
    # After a line of digits only, an area code's "(" still parts the number after it.
    ("12345678\n12345678\n{}", ["(555) 234-5678"]),
    ("{}\n12345678\n{}", ["555-987-6543", "(555) 234-5678"]),
    ("{}\r\n12345678\r\n{}", ["555-987-6543", "(555) 234-5678"]),
    # Not a line break, but as much no room for a lead: an area code right after a number.
    ("{}{}{}", ["(555) 123-4567", "(555) 987-6543", "(555) 111-2222"]),
    ("call {}{} now", ["555-123-4567", "(555) 987-6543"]),
    # Nor after a "/" (which leads no number) between two numbers.
    ("{}/{}", ["555-123-4567", "555-987-6543"]),
    ("tel {}/{}/{}", ["(555) 123-4567", "555-987-6543", "+1 555 111 2222"]),
    # After a "-" the first is no number (an id's tail), the one after the "/" is.
    ("-555-123-4567/{}", ["555-987-6543"]),
]

#: Digit runs on consecutive lines that are no phone numbers: each stays as it is.
LOOK_ALIKES = [
    "released 2024-05-06\n2024-06-07\n2024-07-08",
    "versions 1.2.3\n1.2.4\n10.0.19045.2006",
    "ids 123456\n654321\n111111",
    "codes 1234567\n7654321\n1111111",
    "ip 192.168.1.10\n10.0.0.1",
    "total 1.234.567\n2.345.678 EUR",
    "card ending 4111 1111\n1111 1111 expired",
    "dates 2024-05-06/2024-06-07 05/06/2024",
    "path /calls/5551234/5559876 and 1234/5678",
]


@pytest.mark.parametrize("level", ["moderate", "strict"])
def test_each_number_on_its_line_is_tagged(level: str) -> None:
    assert_each_tagged(ON_LINES, level)


def test_each_number_on_its_line_is_masked_as_alone() -> None:
    assert_each_masked_as_alone(ON_LINES)


@pytest.mark.parametrize("level", ["moderate", "strict"])
def test_look_alikes_on_lines_stay(level: str) -> None:
    texts = redacted(LOOK_ALIKES, RedactionSpec(level=level))
    assert [text for text in texts if "PHONE" in text] == []


def test_one_pass_and_fenced_rewrite_agree_on_lines() -> None:
    """The one-pass rewrite finds the rows with numbers parted by a line break from its
    candidates, the fenced rewrite by a scan of the rows: the same texts."""
    one_pass_as_fenced([*(layout.format(*numbers) for layout, numbers in ON_LINES), *LOOK_ALIKES])


def test_a_long_chain_of_numbers_joined_by_slashes_is_each_tagged() -> None:
    """Source data may hold any value: 5,000 numbers joined by "/" (65 KB) are each
    tagged, in one pass over the chain."""
    text = "tel " + "/".join(["555-123-4567"] * 5000)
    out, _ = run(pl.DataFrame({"t": [text]}), RedactionSpec(level="moderate"))
    assert out["t"][0] == "tel " + "/".join(["[PHONE]"] * 5000)


@pytest.mark.parametrize("level", ["moderate", "strict"])
def test_a_digit_table_is_redacted_no_more_than_before(level: str) -> None:
    """A known over-redaction, pinned so that it grows no worse: each line of three
    groups of three digits passes the phone check on its own."""
    texts = redacted(
        ["totals\n100 200 300\n400 500 600", "n\n12 34\n56 78"], RedactionSpec(level=level)
    )
    assert texts == ["totals\n[PHONE]\n[PHONE]", "n\n12 34\n56 78"]


#: A number opened by "((" or "(+" right after another number: the number before took the
#: "(" as its trail, and only "(" and a digit confirmed it as the next one's lead, so the
#: next number lost its lead and stayed in clear (or kept its country code in clear).
#: Rows with a line break took the fenced rewrite before, which parts at any "(".
OPENED_AFTER_A_NUMBER = [
    ("12\n34 Tel +49 30 79717438\n(+1-703-836-8686", "12\n34 Tel [PHONE]\n([PHONE]"),
    ("555-123-4567\n((894)674-1123\n445-556-3713", "[PHONE]\n([PHONE]\n[PHONE]"),
    (
        "Room 12\n3rd floor\n555-123-4567 ((703) 836-8686)",
        "Room 12\n3rd floor\n[PHONE] ([PHONE])",
    ),
    (
        "Room 12\n3rd floor\n555-123-4567\n(+1 703 836 8686)",
        "Room 12\n3rd floor\n[PHONE]\n([PHONE])",
    ),
    ("555-123-4567 ((703) 836-8686)", "[PHONE] ([PHONE])"),
    ("555-123-4567\n(+1 703 836 8686)", "[PHONE]\n([PHONE])"),
    ("see (a) 555-123-4567 (b) note", "see (a) [PHONE] (b) note"),
]


@pytest.mark.parametrize("level", ["moderate", "strict"])
def test_a_number_opened_by_two_characters_after_another_is_tagged(level: str) -> None:
    texts = [text for text, _ in OPENED_AFTER_A_NUMBER]
    expected = [tagged for _, tagged in OPENED_AFTER_A_NUMBER]
    assert redacted(texts, RedactionSpec(level=level)) == expected
