"""PERSON_NAME: names of other people in free text (a given name from the gazetteer and a
capitalised surname, or a title and a capitalised name), never capitalised look-alikes,
and never the row's own name when a kept name column holds it (a GDPR package)."""

from __future__ import annotations

import polars as pl
import pytest

from sluice.server.pipeline.redaction.entities import ENTITY_BY_NAME
from sluice.server.planning.redaction_plan import resolve_policy
from sluice.server.planning.spec import RedactionRuleSpec, RedactionSpec
from sluice.server.settings import Settings
from sluice.server.templates import SUBJECT_PACKAGE_REDACTION
from tests.unit.redaction_helpers import run

NAMES_ONLY = RedactionSpec(rules=(RedactionRuleSpec(pattern="PERSON_NAME"),))


def _redacted(texts: list[str], spec: RedactionSpec = NAMES_ONLY) -> list[str]:
    out, _ = run(pl.DataFrame({"text": texts}), spec)
    return list(out["text"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I told Maria Lopez and Dr. Smith", "I told [PERSON_NAME] and [PERSON_NAME]"),
        ("cc: Mr. O'Brien, M. Dupont", "cc: [PERSON_NAME], [PERSON_NAME]"),
        ("Frau Müller-Lüdenscheid rief an", "[PERSON_NAME] rief an"),
        ("ask Jean Pierre Dupont", "ask [PERSON_NAME]"),
        ("von Małgorzata Kowalska", "von [PERSON_NAME]"),
        ("Sra. García llamó", "[PERSON_NAME] llamó"),
    ],
)
def test_names_in_text_are_redacted(text: str, expected: str) -> None:
    assert _redacted([text]) == [expected]


LOOK_ALIKES = [
    # Sentence-initial capitals and a given name alone.
    "Thanks. Anna said the Parcel Arrived Today.",
    "Please Call Back Tomorrow",
    "Best regards, Maria",
    # Streets, stations and other places that start with a given name.
    "Deliver to George Street 12, near Victoria Station",
    "Pick-up at Maria Avenue or Santa Sofia Airport",
    "Calle Isabel Plaza 3",
    # Months and weekdays, as words and as would-be surnames.
    "Paid in May. June Sales were up; Anna Monday meeting moved to Laura March",
    "Ordered On Tuesday, shipped August 3",
    # Titles without a capitalised name, and names in lower case.
    "see the Dr. for advice; mr. smith; maria lopez",
]


def test_look_alikes_are_not_names() -> None:
    assert _redacted(LOOK_ALIKES) == LOOK_ALIKES


def test_no_level_applies_person_name_by_default() -> None:
    """Its precision is below what a level promises: only a rule naming it applies it."""
    for level in ("basic", "moderate", "strict"):
        policy = resolve_policy(RedactionSpec(level=level), Settings())
        assert "PERSON_NAME" not in {rule.label for rule in policy.pattern_rules}
    assert ENTITY_BY_NAME["PERSON_NAME"].opt_in


def test_the_rows_own_name_is_kept_in_a_subject_package() -> None:
    frame = pl.DataFrame(
        {
            "name": ["Ana Garcia", "Tom Baker", None],
            "message": [
                "I told Maria Lopez and Dr. Smith. Regards, Ana Garcia (Dr. Garcia to you)",
                "Ana Garcia wrote to Tom Baker",
                "I told Maria Lopez",
            ],
        }
    )
    out, counts = run(frame, SUBJECT_PACKAGE_REDACTION)
    assert list(out["name"]) == ["Ana Garcia", "Tom Baker", None]
    assert list(out["message"]) == [
        "I told [PERSON_NAME] and [PERSON_NAME]. Regards, Ana Garcia (Dr. Garcia to you)",
        "[PERSON_NAME] wrote to Tom Baker",
        "I told [PERSON_NAME]",
    ]
    assert counts["PERSON_NAME/message"] == 3


def test_only_whole_words_of_the_subjects_name_are_kept() -> None:
    """Subject "Al Smith": "Alice" and "Alberto" merely start with "Al"; they are other
    people's names and are redacted."""
    frame = pl.DataFrame(
        {
            "name": ["Al Smith", "Al Smith"],
            "message": ["Alice Jones called Al Smith", "Al Smith met Alberto Ruiz, Al said"],
        }
    )
    out, _ = run(frame, SUBJECT_PACKAGE_REDACTION)
    assert list(out["message"]) == [
        "[PERSON_NAME] called Al Smith",
        "Al Smith met [PERSON_NAME], Al said",
    ]
