"""PERSON_NAME: names of other people in free text (a given name from the gazetteer and a
capitalised surname, or a title and a capitalised name), never capitalised look-alikes,
and never the row's own name when a kept name column holds it (a GDPR package)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from sluice.server.pipeline.redaction.entities import ENTITY_BY_NAME
from sluice.server.planning.redaction_plan import resolve_policy
from sluice.server.planning.spec import RedactionRuleSpec, RedactionSpec
from sluice.server.settings import Settings
from sluice.server.templates import SUBJECT_PACKAGE_REDACTION
from tests.unit.redaction_helpers import rule, run

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


def test_custom_patterns_run_after_person_name_with_or_without_a_kept_name_column() -> None:
    """Custom patterns run after the built-in entities, PERSON_NAME included. Keeping
    own names, PERSON_NAME runs after the text pass (it reads the name column): the
    custom patterns ran before it there, so `Smith:redact` hid the surname and left
    "Alice" in clear ("met Alice [REGEX_1] today"). With a kept name column the other
    people's names come out as without one, and the row's own name stays."""
    texts = ["met Alice Smith today", "met Alice Smith re 123456", "call Maria Lopez"]
    rules = (
        rule("pattern=PERSON_NAME:redact"),
        rule("pattern=Smith:redact"),
        rule("pattern=N[A]ME:redact"),
    )
    expected = [
        "met [PERSON_[REGEX_2]] today",
        "met [PERSON_[REGEX_2]] re 123456",
        "call [PERSON_[REGEX_2]]",
    ]
    expected_counts = {"PERSON_NAME/note": 3, "REGEX_2/note": 3}
    plain, counts = run(pl.DataFrame({"note": texts}), RedactionSpec(level="custom", rules=rules))
    assert list(plain["note"]) == expected
    assert counts == expected_counts
    # The keep rule last, so the custom patterns keep their numbers (REGEX_1, REGEX_2).
    kept = RedactionSpec(level="custom", rules=(*rules, rule("column=name:keep")))
    frame = pl.DataFrame({"note": [*texts, "Bob Jones met Alice Smith"], "name": ["Bob Jones"] * 4})
    out, counts = run(frame, kept)
    assert list(out["note"]) == [*expected, "Bob Jones met [PERSON_[REGEX_2]]"]
    assert counts == {"PERSON_NAME/note": 4, "REGEX_2/note": 4}


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


#: Run in a child process that stops itself past 2 GB of RSS: on the code this guards
#: against, planning the package below took memory until the machine killed it.
_TWO_NAME_COLUMNS = r"""
import json, os, sys, threading, time

def _cap():
    page = os.sysconf("SC_PAGE_SIZE")
    while True:
        with open("/proc/self/statm") as statm:
            if int(statm.read().split()[1]) * page > 2 * 1024**3:
                print("over 2 GiB of RSS", flush=True)
                os._exit(3)
        time.sleep(0.01)

threading.Thread(target=_cap, daemon=True).start()
import polars as pl
from sluice.server.templates import SUBJECT_PACKAGE_REDACTION
from tests.unit.redaction_helpers import run

frame = pl.DataFrame({
    "first_name": ["Ana María", "Tom"],
    "last_name": ["Lopez Garcia", "Baker"],
    "note": [
        "Ana María Lopez Garcia told Maria Chen, mail ana@example.com",
        "Tom Baker met Dr. Smith at Baker Street",
    ],
})
out, _ = run(frame, SUBJECT_PACKAGE_REDACTION)
print(json.dumps(out.select("first_name", "last_name", "note").to_dicts()))
"""


def test_a_package_of_a_table_with_two_name_columns_plans_in_bounded_memory() -> None:
    """Each name token's hiding and restoring wraps the text once: had either used the
    text twice, two name columns of four tokens each would hold 2^16 copies of the rule's
    rewrite, which Polars expands when it plans them (a GDPR package of such a table took
    the daemon's memory until it was killed)."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", _TWO_NAME_COLUMNS],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=root,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
        },
        check=False,
    )
    assert done.returncode == 0, done.stdout[-500:] + done.stderr[-2000:]
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    assert rows == [
        {
            "first_name": "Ana María",
            "last_name": "Lopez Garcia",
            "note": "Ana María Lopez Garcia told [PERSON_NAME], mail [EMAIL]",
        },
        {
            "first_name": "Tom",
            "last_name": "Baker",
            "note": "Tom Baker met [PERSON_NAME] at Baker Street",
        },
    ]
