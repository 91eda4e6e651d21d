"""Values written next to each other: a list joined by a bare comma ("A,B"), and a card
number with another digit group right after it. Each was missed before (the first
match's trail took the comma the next one needed as its lead; the card ran into the next
group and failed as a whole). Values joined by a single space, MACs and coordinates
joined by a bare comma, and a card followed by two digit groups were missed the same way."""

from __future__ import annotations

import polars as pl
import pytest

from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import run

VISA = "4111111111111111"
MASTERCARD = "5500000000000004"
AMEX = "378282246310005"


def _strict(texts: list[str]) -> list[str]:
    out, _ = run(pl.DataFrame({"text": texts}), RedactionSpec(level="strict"))
    return out["text"].to_list()


@pytest.mark.parametrize("joiner", [",", ";", "|"])
def test_cards_joined_without_a_space_are_all_masked(joiner: str) -> None:
    text = f"cards on file {VISA}{joiner}{MASTERCARD}{joiner}{AMEX} (all expired)"
    assert _strict([text]) == [
        f"cards on file {'*' * 12}1111{joiner}{'*' * 12}0004{joiner}{'*' * 11}0005 (all expired)"
    ]


def test_ids_joined_by_a_comma_are_all_redacted() -> None:
    texts = ["ids 12345678Z,X1234567L,87654321X", "ssn 123-45-6789,234-56-7890"]
    assert _strict(texts) == ["ids [ES_DNI],[ES_DNI],[ES_DNI]", "ssn [US_SSN],[US_SSN]"]


def test_a_card_followed_by_another_digit_group_is_masked_and_the_group_kept() -> None:
    texts = [
        "card 4111 1111 1111 1111 123 on file",
        f"card {VISA} 2027",
        "card 5500-0000-0000-0004-12 noted",
    ]
    assert _strict(texts) == [
        f"card {'*' * 15}1111 123 on file",
        f"card {'*' * 12}1111 2027",
        f"card {'*' * 15}0004-12 noted",
    ]


def test_joined_look_alikes_and_the_joiner_character_stay_as_they_were() -> None:
    texts = [
        "orders 4111111111111112,5500000000000005 (Luhn fails)",
        "a,b;c|d 12,34,56",
        "ratio 1,5;2,5 and 40.7128,74.0060",
        "raw \x02 byte then 12345678Z,87654321X",
    ]
    out = _strict(texts)
    assert out[:2] == texts[:2]
    assert out[2] == "ratio 1,5;2,5 and [GEO_COORDINATES]"
    # Text that already holds the joiner keeps it (and falls back to redacting every
    # candidate without checking it).
    assert out[3].startswith("raw \x02 byte then [ES_DNI]")


def test_ids_and_cards_joined_by_a_single_space_are_all_redacted() -> None:
    texts = [
        f"cards {VISA} {MASTERCARD} on file",
        "cards 4111 1111 1111 1111 5500 0000 0000 0004 on file",
        "ids 12345678Z X1234567L end",
        "ssn 123-45-6789 234-56-7890 end",
        "ibans ES9121000418450200051332 DE89370400440532013000 end",
    ]
    assert _strict(texts) == [
        f"cards {'*' * 12}1111 {'*' * 12}0004 on file",
        f"cards {'*' * 15}1111 {'*' * 15}0004 on file",
        "ids [ES_DNI] [ES_DNI] end",
        "ssn [US_SSN] [US_SSN] end",
        f"ibans {'*' * 20}1332 {'*' * 18}3000 end",
    ]


def test_macs_and_coordinates_joined_without_a_space_are_all_redacted() -> None:
    texts = [
        "macs 00:1A:2B:3C:4D:5E,00:1A:2B:3C:4D:5F end",
        "geo 40.71280,-74.00600,51.50740,-0.12780 end",
        "geo 40.712800,-74.006000;51.507400,-0.127800 end",
    ]
    assert _strict(texts) == [
        "macs [MAC_ADDRESS],[MAC_ADDRESS] end",
        # A run of pairs parted by commas is one match (session 27).
        "geo [GEO_COORDINATES] end",
        "geo [GEO_COORDINATES];[GEO_COORDINATES] end",
    ]


def test_a_card_followed_by_two_more_digit_groups_is_masked_and_the_groups_kept() -> None:
    texts = [
        "card 4111 1111 1111 1111 123 456 end",
        f"card {VISA} 2027 12 end",
        "card 5500-0000-0000-0004-12-34 noted",
    ]
    assert _strict(texts) == [
        f"card {'*' * 15}1111 123 456 end",
        f"card {'*' * 12}1111 2027 12 end",
        f"card {'*' * 15}0004-12-34 noted",
    ]


def test_look_alikes_joined_by_a_single_space_stay_as_they_were() -> None:
    texts = [
        "orders 4111111111111112 5500000000000005 (Luhn fails)",
        "ids 12345678A X1234567A (wrong letters)",
        "ssn 000-12-3456 666-12-3456 (never issued)",
        "versions 10.0.19045.2006 1.2.3.4.5 and 40.7128 -74.0060",
        "tracking 1234 5678 9012 3456 7890 1234 5678",
    ]
    assert _strict(texts) == texts


def test_values_after_one_to_three_stars_of_emphasis_are_still_found() -> None:
    """Markdown emphasis leads a value ("**4111…**"); only a mask's long star run (the
    kept digits of a masked card) does not."""
    texts = ["**4111111111111111**", "pay *555-123-4567 now", "**123-45-6789**"]
    assert _strict(texts) == [f"**{'*' * 12}1111**", "pay *[PHONE] now", "**[US_SSN]**"]


def test_a_19_digit_card_followed_by_a_digit_group_is_still_masked() -> None:
    assert _strict(["6011 0000 0000 0000 019 123"]) != ["6011 0000 0000 0000 019 123"]


def test_a_real_id_after_a_look_alike_is_still_redacted() -> None:
    """The look-alike's trail took the space the real id needed as its lead, and a
    second round over the output saw the same look-alike first again."""
    texts = [
        "ids 12345678A X1234567L end",
        "ids 12345678A,X1234567L end",
        "ids X1234567A 12345678Z 87654321A end",
    ]
    assert _strict(texts) == [
        "ids 12345678A [ES_DNI] end",
        "ids 12345678A,[ES_DNI] end",
        "ids X1234567A [ES_DNI] 87654321A end",
    ]


def test_joiners_go_only_into_the_rows_that_need_one_and_each_row_keeps_its_place() -> None:
    # Only the values holding a bare separator get joiners (written into a copy, row by
    # row): the rows around them, a null and list elements must come out in place.
    texts = [
        "call +44 20 7946 0123,+44 20 7946 0456 today",
        None,
        "no joiner: +1 415-555-0132 here",
        "order 20240101,20240102 and 555-0199",
        "both (415) 555-0132;(415) 555-0133",
    ]
    frame = pl.DataFrame({"text": texts, "cc": [[t, "a,b"] if t else None for t in texts]})
    out, counts = run(frame, RedactionSpec(level="moderate"))
    expected = [
        "call [PHONE],[PHONE] today",
        None,
        "no joiner: [PHONE] here",
        "order 20240101,20240102 and 555-0199",
        "both [PHONE];[PHONE]",
    ]
    assert out["text"].to_list() == expected
    assert out["cc"].to_list() == [[t, "a,b"] if t else None for t in expected]
    assert counts == {"PHONE/text": 3, "PHONE/cc": 3}
