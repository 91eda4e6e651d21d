"""The text pass's shortcuts change only the work done, never an output: a list leaf's
values rewritten once per distinct value, a text column taking back only the values a
step changed, and the keyword test deciding from a sample how to scan a leaf."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import rule, run, settings_with_keys

ADDRESSES = ("ann@example.com", "bob@example.org", "call +44 20 7946 0123 now", "plain words")


def _lists(rows: int) -> list[list[str | None] | None]:
    # Few distinct values, repeated (the per-distinct path), with null and empty lists
    # and nulls inside lists.
    return [
        None if i % 9 == 0 else [] if i % 9 == 1 else [ADDRESSES[i % 4], None, ADDRESSES[i % 3]]
        for i in range(rows)
    ]


def test_a_list_leaf_gets_per_value_what_a_text_column_gets(tmp_path: Path) -> None:
    rows = 500
    lists = _lists(rows)
    spec = RedactionSpec(level="moderate", rules=(rule("pattern=EMAIL:hash:k"),))
    settings = settings_with_keys(tmp_path, k=b"0123456789abcdef0123456789abcdef")
    listed, counts = run(pl.DataFrame({"cc": lists}), spec, settings)
    flat, _ = run(pl.DataFrame({"text": list(ADDRESSES)}), spec, settings)
    each = dict(zip(ADDRESSES, flat["text"].to_list(), strict=True))
    assert each["ann@example.com"] not in ("ann@example.com", "[EMAIL]")  # a pseudonym
    assert each["call +44 20 7946 0123 now"] == "call [PHONE] now"
    assert listed["cc"].to_list() == [
        None if value is None else [None if v is None else each[v] for v in value]
        for value in lists
    ]
    holding = [set(value or ()) for value in lists]
    assert counts == {
        "EMAIL/cc": sum(1 for h in holding if h & {"ann@example.com", "bob@example.org"}),
        "PHONE/cc": sum(1 for h in holding if "call +44 20 7946 0123 now" in h),
    }


def test_a_text_column_takes_back_exactly_the_values_a_step_changed() -> None:
    rows = 1000
    texts = [
        None
        if i % 11 == 0
        else f"mail ann{i % 5}@example.com"
        if i % 3 == 0
        else f"order ORD-2025-{i:06d} on 2025-01-{1 + i % 28:02d}"
        if i % 3 == 1
        else f"call +44 20 7946 0{i % 1000:03d} or write"
        for i in range(rows)
    ]
    out, counts = run(pl.DataFrame({"text": texts}), RedactionSpec(level="moderate"))
    expected = [
        None
        if text is None
        else "mail [EMAIL]"
        if text.startswith("mail")
        else "call [PHONE] or write"
        if text.startswith("call")
        else text
        for text in texts
    ]
    assert out["text"].to_list() == expected
    assert counts == {
        "EMAIL/text": sum(1 for t in texts if t and t.startswith("mail")),
        "PHONE/text": sum(1 for t in texts if t and t.startswith("call")),
    }


def test_a_secret_beyond_the_sampled_values_of_a_leaf_of_urls_is_found() -> None:
    # Every value holds a separator (the sample says so): the keyword gates are scanned
    # over all values at once, and the one secret, far past the sample, is still found.
    rows = 6000
    urls = [f"https://shop.example.com/p/{i}" for i in range(rows)]
    urls[5000] = "https://app:hunter2secret@db.example.com/p/1"
    out, counts = run(pl.DataFrame({"referrer": urls}), RedactionSpec(level="basic"))
    assert "hunter2secret" not in out["referrer"][5000]
    assert out["referrer"].to_list()[:5000] == urls[:5000]
    assert sum(counts.values()) == 1
