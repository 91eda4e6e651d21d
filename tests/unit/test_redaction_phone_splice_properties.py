"""Property: the phone rule's one-pass rewrite (its candidates' facts looked up, rows with
one passing candidate found once tagged at a split, the others spliced or fenced) gives
exactly the checked and fenced rewrite it stands in for, on rows made of phone numbers,
look-alikes, the same number again, and the characters that lead, trail or join them."""

from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sluice.server.pipeline.redaction.phone_one_pass import phone_verdicts, rewrite_checked
from tests.unit.test_redaction_phone_one_pass import RULE, _both

_PIECES = [
    "555-123-4567",
    "(555) 123-4567",
    "+44 20 7946 0958",
    "020 7946 0958",
    "555 555 5555",
    "2024-05-06",
    "123-45-6789",
    "4111 1111 1111 1111",
    "12345678901234567890",
    "555.123.4567",
    "3.5",
    "ext. 12",
    "x",
    "call",
    "é",
    "谢谢",
    "**",
]
_GLUE = st.sampled_from([" ", "", ",", ", ", ";", "|", "/", "(", ")", "\n", "\t", "  ", "-", "."])
_MIXED = st.lists(st.tuples(st.sampled_from(_PIECES), _GLUE), max_size=8).map(
    lambda parts: "".join(piece + glue for piece, glue in parts)
)
#: One number two or three times, each time between other characters, and maybe once
#: more ending the row: where a search finds it first may be no match (before a letter,
#: inside a longer run), and one ending the row matches where the same text before a
#: letter does not.
_AROUND = st.tuples(_GLUE, _GLUE, st.sampled_from(["", "x", "x ", *_PIECES]))
_REPEATED = st.tuples(
    st.sampled_from(_PIECES[:5]), st.lists(_AROUND, min_size=1, max_size=3), _GLUE, st.booleans()
).map(
    lambda chosen: (
        "".join(f"{lead}{chosen[0]}{trail}{other}" for lead, trail, other in chosen[1])
        + (f"{chosen[2]}{chosen[0]}" if chosen[3] else "")
    )
)
_ROW = st.one_of(_MIXED, _REPEATED)
_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(st.lists(_ROW, min_size=1, max_size=12))
# The kind of row where the first place a search finds the number is no match (it runs
# into a letter) and a later one is: a split at the first place would tag the wrong one.
# Generated rows hit it in only some runs (the review's mutation survived 5 of 7 seeds).
@example(["a 555-123-4567x and b 555-123-4567"])
@example(["(555) 123-4567x, (555) 123-4567"])
def test_one_pass_gives_the_checked_and_fenced_rewrite(rows: list[str]) -> None:
    before, after = _both(list(rows))
    assert after == before


@_SETTINGS
@given(st.lists(st.lists(_ROW, min_size=1, max_size=6), min_size=2, max_size=3))
def test_a_memory_shared_by_batches_gives_the_same(batches: list[list[str]]) -> None:
    shared = phone_verdicts()
    for batch in batches:
        frame = pl.DataFrame({"t": batch}, schema={"t": pl.String})
        fresh = frame.select(rewrite_checked(pl.col("t"), RULE)).to_series().to_list()
        remembered = frame.select(rewrite_checked(pl.col("t"), RULE, shared)).to_series()
        assert remembered.to_list() == fresh
