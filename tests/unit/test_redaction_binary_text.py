"""A mask or hash of a Binary column reads valid UTF-8 bytes as their text, as before
bytes that are not UTF-8 were handled: the same key gives the same pseudonym in every
export (README), so `b"a@b.com"` hashes as the String `"a@b.com"` does. Bytes that are
not UTF-8 (which Polars cannot cast to text) are read in hex instead of failing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import rule, run, settings_with_keys

#: HMAC-SHA256 of "a@b.com" under the key b"k" * 32, as main wrote it for the Binary
#: b"a@b.com" and the String "a@b.com" alike.
A_AT_B = "cb243f36461960e0f885f50c29aa04a09ca8e98b66a9a081b29e9e57cf173332"


def _spec(*rules: str) -> RedactionSpec:
    return RedactionSpec(level="basic", rules=[rule(r) for r in rules])


def test_a_utf8_binary_hashes_as_its_text(tmp_path: Path) -> None:
    settings = settings_with_keys(tmp_path, default=b"k" * 32)
    frame = pl.DataFrame({"blob": [b"a@b.com", None], "text": ["a@b.com", None]})
    out, _ = run(frame, _spec("column=blob:hash", "column=text:hash"), settings)
    assert out["blob"].to_list() == out["text"].to_list()
    assert out["blob"][0] == A_AT_B


def test_a_utf8_binary_masks_as_its_text() -> None:
    frame = pl.DataFrame({"blob": [b"4111111111111111"]})
    out, _ = run(frame, _spec("column=blob:mask:4"))
    assert out["blob"].to_list() == ["************1111"]


def test_bytes_that_are_not_utf8_are_read_in_hex(tmp_path: Path) -> None:
    settings = settings_with_keys(tmp_path, default=b"k" * 32)
    values = [b"\xff\xfe1234", b"a@b.com", None]
    frame = pl.DataFrame({"blob": values, "other": values})
    out, _ = run(frame, _spec("column=blob:mask:4", "column=other:hash"), settings)
    # mask:4 shows at most half a value: 3 of "a@b.com"'s 7 characters.
    assert out["blob"].to_list() == ["********3334", "****com", None]
    assert out["other"][0] is not None and out["other"][1] == A_AT_B


def test_a_mask_of_bytes_or_durations_counts_only_changed_values() -> None:
    # As for text: a value no longer than the characters kept (b"ab", a zero duration,
    # "0") is masked whole; an empty one (b"") is left unchanged and is not counted.
    frame = pl.DataFrame(
        {
            "card_number": [b"4111111111111111", b"ab", b"", b"\xff\xfe", None],
            "account_number": pl.Series(
                [dt.timedelta(seconds=5), dt.timedelta(0), None, None, None]
            ),
        }
    )
    out, counts = run(frame, RedactionSpec(level="strict"))
    assert out["card_number"].to_list() == ["************1111", "**", "", "****", None]
    assert out["account_number"].to_list() == ["****000", "*", None, None, None]
    assert sorted(counts.values()) == [2, 3]
