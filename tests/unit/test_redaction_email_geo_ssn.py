"""E-mail addresses, geo coordinates and labelled SSNs a leak hunt found left in clear
(session 26), at the level that promises each: the exact redacted text in a column, a
list element and a struct field, as `test_redaction_leak_layouts` reads them; and the
nearest look-alikes, which must stay as they are."""

from __future__ import annotations

import polars as pl
import pytest

from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import rule, run


def _redacted(level: str, text: str) -> str:
    frame = pl.DataFrame({"text": [text]}).with_columns(
        items=pl.concat_list(pl.col("text"), pl.lit("plain")),
        record=pl.struct(note=pl.col("text")),
    )
    out, _ = run(frame, RedactionSpec(level=level))
    column, element, field = out["text"][0], out["items"][0][0], out["record"][0]["note"]
    assert column == element == field, (column, element, field)
    return str(column)


EMAILS = [
    # An apostrophe inside the local part (Irish and French names): the part before it
    # was left in clear.
    ("sean.o'neil@example.ie", "[EMAIL]"),
    ("write to l'equipe@example.fr or d'arcy.o'brien@example.ie.", "write to [EMAIL] or [EMAIL]."),
    # ... but a quote around an address is no part of it.
    ("email: 'ann@example.com', \"bob@example.org\"", "email: '[EMAIL]', \"[EMAIL]\""),
    # A typographic apostrophe, as word processors write it.
    ("sean.o\u2019neil@example.ie", "[EMAIL]"),
    # A full-width "@", or a whole full-width address.
    ("user\uff20example.com", "[EMAIL]"),
    (
        "\uff55\uff53\uff45\uff52\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d",
        "[EMAIL]",
    ),
    ("联系ann\uff20example.com谢谢", "联系[EMAIL]谢谢"),
    # An escaped "@": JSON text, JSON inside JSON, HTML.
    ('{"e": "bob\\u0040example.com"}', '{"e": "[EMAIL]"}'),
    ('{"log": "{\\"e\\": \\"bob\\\\u0040example.com\\"}"}', '{"log": "{\\"e\\": \\"[EMAIL]\\"}"}'),
    ("ann&#64;example.com, bob&#x40;example.org", "[EMAIL], [EMAIL]"),
    # Soft hyphens and zero-width characters inside an address.
    ("us\u00aded@exam\u00adple.com", "[EMAIL]"),
    ("ann\u200b.lee@exam\u200dple.com", "[EMAIL]"),
    # Internationalised: a CJK domain, local parts in Devanagari and Hangul.
    ("user@例え.jp", "[EMAIL]"),
    ("मोहन@example.com", "[EMAIL]"),
    ("연락처 홍길동@example.kr 입니다", "연락처 [EMAIL] 입니다"),
]

COORDINATES = [
    # A point in well-known text, longitude first (beyond 90 too), with a height kept.
    ("POINT(-74.006015 40.712784)", "POINT([GEO_COORDINATES])"),
    ("geom: POINT (-122.419416 37.774929)", "geom: POINT ([GEO_COORDINATES])"),
    ("point z(-74.0060 40.7128 10.5)", "point z([GEO_COORDINATES] 10.5)"),
    # A pair parted by one space, with five decimals or more, as GPS devices write it.
    ("at 40.712784 -74.006015", "at [GEO_COORDINATES]"),
    (
        "fix 48.856613 2.352222. then 51.50740 -0.12780",
        "fix [GEO_COORDINATES]. then [GEO_COORDINATES]",
    ),
    # As before: parted by a comma, four decimals or more, one of them beyond 2.
    ("at 40.712784, -74.006015", "at [GEO_COORDINATES]"),
    ("-0.1278,51.5074 and 1.3521,103.8198", "[GEO_COORDINATES] and [GEO_COORDINATES]"),
]

LABELLED_SSNS = [
    # Nine digits unparted after the label, and a dashed SSN right after "#".
    ("SSN: 078051120", "SSN: [US_SSN]"),
    ("SSN#078-05-1120", "SSN#[US_SSN]"),
    ("ssn 078051120. SS# 078-05-1120", "ssn [US_SSN]. SS# [US_SSN]"),
    ("Social Security Number: 078051120", "Social Security Number: [US_SSN]"),
    ("SSN No. 078 05 1120, ssn=078051120", "SSN No. [US_SSN], ssn=[US_SSN]"),
]

LOOK_ALIKES = [
    # Chat text: no dotted domain, no address (as `user@localhost`).
    ("moderate", "it's@home, don't@me, can't@all"),
    # "@" in code, package versions, mentions; a full-width "@" and escapes likewise.
    ("moderate", "@decorator x = a@b pkg@1.2.3 @ann's"),
    ("moderate", "pkg\uff201.2.3 a\uff20b \uff20ann"),
    ("moderate", '"\\u0040decorator" x\\u0040y &#64;ann price&#64;3'),
    # Exchange rates, ratios and scores: both numbers within 2 of zero (open sea).
    ("strict", "EUR/USD 1.0823,1.0830 GBP/USD 1.2712, 1.2718 AUD/USD -0.6512,0.6518"),
    ("strict", "precision/recall 0.8523, 0.9134 and 0.912345 0.876543"),
    # Versions and table cells parted by a space, four decimals or fewer.
    ("strict", "1.0823 1.0830 v12.3456 45.6789\n12.3456 45.6789\t23.4567 56.7890"),
    # Fewer than four decimals, in well-known text too; two spaces between.
    ("strict", "POINT(-74.006 40.712) POINT(30 10) 40.712784  -74.006015"),
    # Nine digits without the label are ids; after it, a never-issued number, ten digits,
    # a longer name; "#" before a dashed number without the label.
    ("strict", "id 078051120 order 078051120"),
    ("strict", "SSN: 000123456 SSN: 0780511201 ssn_id: 078051120 SSNs: 078051120"),
    ("strict", "order #078-05-1120, PASS#078051120"),
]


@pytest.mark.parametrize(("text", "expected"), EMAILS)
def test_email_forms_are_redacted_at_moderate(text: str, expected: str) -> None:
    assert _redacted("moderate", text) == expected


@pytest.mark.parametrize(("level", "text"), LOOK_ALIKES)
def test_look_alikes_stay(level: str, text: str) -> None:
    assert _redacted(level, text) == text


@pytest.mark.parametrize(("text", "expected"), COORDINATES)
def test_coordinates_are_redacted_at_strict(text: str, expected: str) -> None:
    assert _redacted("strict", text) == expected


@pytest.mark.parametrize(("text", "expected"), LABELLED_SSNS)
def test_labelled_ssns_are_redacted_at_strict(text: str, expected: str) -> None:
    assert _redacted("strict", text) == expected


def test_generalised_coordinates_are_written_as_their_decimals() -> None:
    """The strict level generalises a coordinate column to 0.1: 40.41677 is 40.4, not
    40.400000000000006, and a value on an edge stays in its own bucket (0.29 at 0.01
    was 0.28: 0.29 / 0.01 is 28.999999999999996 in binary floats)."""
    frame = pl.DataFrame(
        {"latitude": [40.41677, 40.4, -3.7038, 51.5, None], "score": [0.29, 0.57, 1.1, -0.07, 2.0]}
    )
    spec = RedactionSpec(level="strict", rules=(rule("column=score:generalize:0.01"),))
    out, _ = run(frame, spec)
    assert out["latitude"].to_list() == [40.4, 40.4, -3.8, 51.5, None]
    assert out["score"].to_list() == [0.29, 0.57, 1.1, -0.07, 2.0]
