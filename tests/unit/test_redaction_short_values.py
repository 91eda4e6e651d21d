"""Short text values are scanned for keyword gates joined into one text (compaction's
`_any_keyword`): a secret that is a whole value, between values ending and starting with
word characters, is still found, in a list's elements and in a column."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import pytest

from sluice.server.pipeline.redaction import compaction, gate_groups
from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import run

ROWS = 3_000
TOKEN = "AKIAIOSFODNN7EXAMPLE"
SLACK = "xoxb-1234567890-abcdef"


@pytest.mark.parametrize("secret", [TOKEN, SLACK])
def test_a_secret_alone_among_short_values_is_found(secret: str) -> None:
    words = [f"ab{i}" for i in range(ROWS)]
    words[1234] = secret
    frame = pl.DataFrame({"word": words, "tags": [[w, f"zz{w}"] for w in words]})
    out, counts = run(frame, RedactionSpec(level="basic"))
    assert out["word"][1234] != secret and out["word"][1233] == "ab1233"
    assert out["tags"][1234].to_list() == [out["word"][1234], f"zz{secret}"]
    assert out["word"].to_list()[:1234] == words[:1234]
    assert sum(counts.values()) == 2, counts


def _recorded_scans(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The values each keyword scan of `_any_keyword` looked at, in order."""
    scans: list[list[str]] = []
    real = compaction._matching

    def recording(values: pl.DataFrame, patterns: Sequence[str]) -> pl.Series:
        scans.append(values["v"].to_list())
        return real(values, patterns)

    monkeypatch.setattr(compaction, "_matching", recording)
    return scans


def test_short_values_joined_find_nothing_across_clean_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Pieces of a token split across neighbouring values are no token.
    scans = _recorded_scans(monkeypatch)
    words = [f"w{i}" for i in range(ROWS)]
    words[10], words[11] = "AKIAIOSFOD", "NN7EXAMPLE"
    out, counts = run(pl.DataFrame({"word": words}), RedactionSpec(level="basic"))
    assert out["word"].to_list() == words
    assert sum(counts.values()) == 0
    # One scan, of the values joined into one text, and it found nothing.
    assert scans == [["\n".join(words)]]


def test_short_values_with_a_few_separators_are_scanned_joined_with_every_gate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An "=" in one value: the gates needing one may hold, and every gate is scanned over
    # the values joined (one scan; per value, the plain gates' and the separators' scans
    # cost more); the secret is found.
    scans = _recorded_scans(monkeypatch)
    words = [f"w{i}" for i in range(ROWS)]
    words[7] = "pwd=x"
    out, counts = run(pl.DataFrame({"word": words}), RedactionSpec(level="basic"))
    assert out["word"][7] == "pwd=[SECRET_VALUE]"
    assert out["word"].to_list()[8:] == words[8:]
    assert counts == {"SECRET_VALUE/word": 1}
    assert scans == [["\n".join(words)]]


def test_long_values_with_a_few_separators_are_scanned_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Free text: the plain gates per value, the gates needing a separator on the
    # values holding one (joined, then the URL credentials' gate alone).
    scans = _recorded_scans(monkeypatch)
    rows = [f"Order {n} shipped to the customer without any delay at all" for n in range(ROWS)]
    rows[7] = "Order 7 shipped, and the login retried with pwd=hunter2 today"
    out, counts = run(pl.DataFrame({"message": rows}), RedactionSpec(level="basic"))
    assert "hunter2" not in out["message"][7]
    assert counts == {"SECRET_VALUE/message": 1}
    assert scans == [rows, [rows[7]], [rows[7]]]


@pytest.mark.parametrize(
    ("pattern", "anchored"),
    [
        ("^key", True),
        ("[^a-z]key", False),
        (r"\[^key", True),  # an escaped "[": the "^" after it is an anchor
        (r"\\[^a]key", False),  # an escaped backslash, then a class
        ("key$", True),
        (r"key\$", False),
        (r"\Akey", True),
        (r"key\z", True),
        (r"(?i:\bkey\b)[^\s]+", False),
    ],
)
def test_anchors_are_told_from_negated_classes(pattern: str, anchored: bool) -> None:
    assert compaction._anchored(pattern) is anchored


def _urls() -> list[str]:
    return [f"https://shop.example/p/{i}?ref=home" for i in range(ROWS)]


def test_short_values_all_holding_a_separator_are_scanned_joined(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # URLs (a referrer): every value holds a separator, so the gates needing one are not
    # scanned apart; the values are one joined text, and a key among them is still found.
    scans = _recorded_scans(monkeypatch)
    urls = _urls()
    urls[99] = f"https://shop.example/p/99?key={TOKEN}"
    out, counts = run(pl.DataFrame({"referrer": urls}), RedactionSpec(level="basic"))
    assert TOKEN not in out["referrer"][99]
    assert out["referrer"].to_list()[100:] == urls[100:]
    assert sum(counts.values()) == 1, counts
    assert scans[0] == ["\n".join(urls)]


def test_short_values_are_scanned_one_by_one_when_a_gate_may_hold_an_anchor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A gate with an anchor ("^", "$") would hold at a value's edge but not in the
    # joined text: then the values are scanned one by one, never joined.
    monkeypatch.setattr(compaction, "_anchored", lambda pattern: True)
    scans = _recorded_scans(monkeypatch)
    urls = _urls()
    urls[5] = f"https://shop.example/p/5?key={TOKEN}"
    out, _ = run(pl.DataFrame({"referrer": urls}), RedactionSpec(level="basic"))
    assert TOKEN not in out["referrer"][5]
    assert scans and len(scans[0]) == ROWS
    assert all(len(scan) != 1 for scan in scans)


@pytest.mark.parametrize(
    ("pattern", "led_by_class"),
    [
        (r"(?-u:\b)[A-Za-z][A-Za-z0-9+.-]{1,30}://", True),
        (r"[^\s]+=", True),
        (r"(?i:\s+key)", True),
        (r"(?P<lead>.key)", True),
        (r"(?-u:\b)(?:[sr]k_(?:live|test)|whsec)_", False),  # two literals, "sk_" "rk_"
        (r"(?-u:\b)AIza[0-9A-Za-z_-]{35}", False),
        (r"\.key", False),  # an escaped ".": a literal
        (r'(?P<sl_lead>"(?i:[^"]*password[^"]*)"\s*:)', False),
    ],
)
def test_gates_led_by_a_wide_class_are_told(pattern: str, led_by_class: bool) -> None:
    assert gate_groups.led_by_class(pattern) is led_by_class


def test_a_gate_led_by_a_class_is_scanned_apart_and_still_found(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Free text where few values hold a separator: the gates needing one are scanned on
    # those values, the URL credentials' gate (led by a class) alone after the others.
    scans = _recorded_scans(monkeypatch)
    rows = [f"Order {n} shipped to the customer without any delay at all" for n in range(ROWS)]
    rows[17] = "Order 17: a note for the warehouse"
    rows[1500] = "db was redis://app:hunter2secret@db.example.com/0 today"
    out, counts = run(pl.DataFrame({"message": rows}), RedactionSpec(level="basic"))
    assert out["message"][1500] == "db was redis://app:[URL_PASSWORD]@db.example.com/0 today"
    assert out["message"].to_list()[:1500] == rows[:1500]
    assert counts == {"URL_PASSWORD/message": 1}
    separated = [rows[17], rows[1500]]
    assert scans[1:] == [separated, separated], scans[1:]


def test_keyword_gates_are_scanned_only_on_the_rows_their_joined_scan_picked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A text column of long values: each keyword gate is scanned on the rows where the
    # joined scan of its group found something, and finds its secrets there.
    looked: list[list[str | None]] = []
    real = compaction._gates_on_rows

    def recording(
        column: pl.Series, rows: pl.Series, gates: Sequence[compaction.ValueTest]
    ) -> list[pl.Series]:
        looked.append(column.filter(rows).to_list())
        return real(column, rows, gates)

    monkeypatch.setattr(compaction, "_gates_on_rows", recording)
    rows: list[str | None] = [
        f"Order {n} shipped to the customer without any delay at all" for n in range(ROWS)
    ]
    rows[3] = None
    rows[10] = f"Order 10 shipped, the key {TOKEN} was pasted in the chat window"
    rows[20] = "Order 20 shipped, and the login retried with pwd=hunter2 today"
    rows[30] = "Order 30: shipped to the customer without any delay at all"
    out, counts = run(pl.DataFrame({"message": rows}), RedactionSpec(level="basic"))
    assert TOKEN not in (out["message"][10] or "") and "hunter2" not in (out["message"][20] or "")
    assert [v for n, v in enumerate(out["message"].to_list()) if n not in (10, 20)] == [
        v for n, v in enumerate(rows) if n not in (10, 20)
    ]
    assert counts == {"AWS_ACCESS_KEY/message": 1, "SECRET_VALUE/message": 1}, counts
    assert looked == [[rows[10], rows[20]]]
