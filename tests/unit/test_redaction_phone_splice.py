"""Rows with a passing phone candidate, whether the others pass or fail, are spliced with
the verdicts already reached (phone_one_pass._tagged_in_place where the row holds one
passing candidate found once, phone_one_pass._spliced for the others) and give exactly
the fenced rewrite's text."""

from __future__ import annotations

import polars as pl
import pytest

from sluice.server.pipeline.redaction import phone_one_pass
from sluice.server.pipeline.redaction.policy import PatternRule
from sluice.server.pipeline.redaction.verdicts import CandidateFacts
from tests.unit.test_redaction_phone_one_pass import RULE, TRICKY, _both, _corpus

MIXED = [
    "2024-05-06 and +1 555-123-4567 and 123-45-6789",
    "call 555-123-4567,2024-05-06;020 7946 0958|4111111111111111 now",
    "(555) 123-4567 then order 12345678901234567890 then +44 20 7946 0958 ext. 12",
    "**555-123-4567** and 03.04.2025 and (5551234567)",
]


def _recording_splices(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """Rows each splice wrote, per call (-1: `_spliced` refused its rows)."""
    written: dict[str, list[int]] = {"tagged": [], "spliced": []}
    tagged = phone_one_pass._tagged_in_place
    spliced = phone_one_pass._spliced

    def recording_tagged(
        texts: pl.Series, candidates: pl.Series, facts: pl.DataFrame, rule: PatternRule
    ) -> pl.Series:
        out = tagged(texts, candidates, facts, rule)
        written["tagged"].append(len(out) - out.null_count())
        return out

    def recording_spliced(
        joined: pl.Series,
        candidates: pl.Series,
        valid: pl.Series,
        counts: pl.Series,
        rule: PatternRule,
        facts: CandidateFacts | None = None,
    ) -> pl.Series | None:
        out = spliced(joined, candidates, valid, counts, rule, facts)
        written["spliced"].append(-1 if out is None else len(out))
        return out

    monkeypatch.setattr(phone_one_pass, "_tagged_in_place", recording_tagged)
    monkeypatch.setattr(phone_one_pass, "_spliced", recording_spliced)
    return written


def test_mixed_rows_are_spliced_to_the_fenced_rewrite(monkeypatch: pytest.MonkeyPatch) -> None:
    written = _recording_splices(monkeypatch)
    texts: list[str | None] = [*MIXED, *TRICKY, *_corpus()]
    before, after = _both(texts)
    assert after == before
    # Both splices wrote rows (MIXED[1] holds two passing candidates), none refused.
    assert sum(written["tagged"]) >= len(MIXED) - 1
    assert written["spliced"] and -1 not in written["spliced"]
    assert after[0] == "2024-05-06 and [PHONE] and 123-45-6789"


# A passing candidate found twice in its row (first where it is no match: before a
# letter, inside a longer run; as a whole match twice), and a lead or trail beyond
# ASCII: the one-pass rewrite places the one that matched, not the first found.
FOUND_TWICE = [
    "a 555-123-4567x and b 555-123-4567",
    "call 555-123-4567 or 555-123-4567 again",
    "x555-123-4567 y and then 555-123-4567 y",
    "ids 9555-123-4567 are not (555) 123-4567 but this is",
    "(555) 123-4567 (555) 123-4567 (evenings)",
    "phone: 555 555 5555 555 555 5555",
    "tel 555-123-4567,x 2024-05-06 then 555-123-4567,x",
    "end 020 7946 0958",
    "020 7946 0958 020 7946 0958",
    "«555-123-4567» «555-123-4567»",
]


def test_candidates_found_twice_in_a_row_give_the_fenced_rewrite(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    written = _recording_splices(monkeypatch)
    before, after = _both(list(FOUND_TWICE))
    assert after == before
    # Found first before the "x", where it is no match: the one at the end is tagged.
    assert after[0] == "a 555-123-4567x and b [PHONE]"
    assert after[1] == "call [PHONE] or [PHONE] again"
    assert written["spliced"] and -1 not in written["spliced"]


def test_leads_and_trails_beyond_ascii_are_kept() -> None:
    # The value is found in its match by byte offset: a lead, trail or space in the value
    # of several bytes must come out whole.
    texts: list[str | None] = [
        "é+44 20 7946 0958 ñ",
        "联系555-123-4567谢谢 and 2024-05-06",
        "«(555) 123-4567» then ü 020 7946 0958",
        "+1 555 123 4567\u00a0ext. 89 then",
    ]
    before, after = _both(texts)
    assert after == before
    assert after[0] == "é[PHONE] ñ"
    assert after[3] == "[PHONE] then"


def _candidates(joined: pl.Series) -> pl.Series:
    return joined.str.extract_all(RULE.regex).explode()


def test_pieces_that_do_not_line_up_are_refused() -> None:
    joined = pl.Series(["call 555-123-4567 or 2024-05-06 x"])
    candidates = _candidates(joined).head(1)
    spliced = phone_one_pass._spliced(joined, candidates, pl.Series([True]), pl.Series([1]), RULE)
    assert spliced is None


def test_pieces_lining_up_in_total_but_not_per_row_are_refused() -> None:
    # Two candidates, then one: counted as one, then two, the verdicts would shift
    # (the second row's phone would take the first row's date's verdict).
    joined = pl.Series(["call 555-123-4567 or 2024-05-06 x", "or 020 7946 0958 y"])
    valid = pl.Series([True, False, True])
    candidates = _candidates(joined)
    lined_up = phone_one_pass._spliced(joined, candidates, valid, pl.Series([2, 1]), RULE)
    assert lined_up is not None
    assert lined_up.to_list() == ["call [PHONE] or 2024-05-06 x", "or [PHONE] y"]
    assert phone_one_pass._spliced(joined, candidates, valid, pl.Series([1, 2]), RULE) is None
