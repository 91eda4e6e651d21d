"""Rows with a passing phone candidate, whether the others pass or fail, are spliced with
the verdicts already reached (phone_one_pass._spliced) and give exactly the fenced
rewrite's text."""

from __future__ import annotations

import polars as pl
import pytest

from sluice.server.pipeline.redaction import phone_one_pass
from sluice.server.pipeline.redaction.policy import PatternRule
from sluice.server.pipeline.redaction.verdicts import CandidateForms
from tests.unit.test_redaction_phone_one_pass import RULE, TRICKY, _both, _corpus

MIXED = [
    "2024-05-06 and +1 555-123-4567 and 123-45-6789",
    "call 555-123-4567,2024-05-06;020 7946 0958|4111111111111111 now",
    "(555) 123-4567 then order 12345678901234567890 then +44 20 7946 0958 ext. 12",
    "**555-123-4567** and 03.04.2025 and (5551234567)",
]


def test_mixed_rows_are_spliced_to_the_fenced_rewrite(monkeypatch: pytest.MonkeyPatch) -> None:
    spliced: list[int] = []
    real = phone_one_pass._spliced

    def recording(
        joined: pl.Series,
        candidates: pl.Series,
        valid: pl.Series,
        counts: pl.Series,
        rule: PatternRule,
        places: CandidateForms | None = None,
    ) -> pl.Series | None:
        out = real(joined, candidates, valid, counts, rule, places)
        spliced.append(-1 if out is None else len(out))
        return out

    monkeypatch.setattr(phone_one_pass, "_spliced", recording)
    texts: list[str | None] = [*MIXED, *TRICKY, *_corpus()]
    before, after = _both(texts)
    assert after == before
    assert spliced and -1 not in spliced and sum(spliced) >= len(MIXED)
    assert after[0] == "2024-05-06 and [PHONE] and 123-45-6789"


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
