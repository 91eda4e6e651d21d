"""YAML chunks read back by yaml.safe_load (and libyaml's loader) to the exact strings
written, for the strings YAML is known to misread when written plainly: boolean and null
words, numbers in every YAML 1.1 spelling, dates, indicators, comments, line breaks,
control characters, quotes, backslashes, emoji, and the same as column and field names."""

from __future__ import annotations

from typing import Any

import polars as pl
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sluice.server.pipeline.encoders import ENCODERS, ChunkContext

AWKWARD = [
    "yes", "no", "on", "off", "y", "N", "True", "FALSE", "null", "Null", "~", "", " ",
    "1e3", "1.5", "-.inf", ".nan", "0x1F", "0o17", "017", "0b101", "1_000", "12:30:00",
    "190:20:30", "2026-01-01", "2026-01-01 10:00:00", "<<", "=", "- ", "-", "? x", ": ",
    "a: b", "a:b", "a #b", "#", "!tag", "&anchor", "*alias", "|", ">", "%YAML", "@at",
    "`tick", "'single'", '"double"', "[1, 2]", "{a: 1}", "a, b", "\\", "\\n", "tab\there",
    "line\nbreak", "cr\r", "\x00", "\x07bell", "\x7f", "\x85", "\u2028", "\u2029",
    "\ufeff", "\ufffe", "\uffff", "🙂", "Zoë", " lead", "trail ", "O'Brien",
]  # fmt: skip

#: Every code point but surrogates (a Polars string is UTF-8, which cannot hold them).
_CHARACTERS = st.characters(exclude_categories=("Cs",))
AWKWARD_TEXT = st.one_of(
    st.sampled_from(AWKWARD),
    st.text(_CHARACTERS, max_size=12),
    st.lists(st.sampled_from(AWKWARD), min_size=2, max_size=4).map("".join),
    st.builds(lambda a, b: f"{a}{b}", st.sampled_from(AWKWARD), st.text(_CHARACTERS, max_size=4)),
)


def round_trip(frame: pl.DataFrame) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    encoder = ENCODERS["yaml"].make(ChunkContext("e", "d", 0))
    text = (encoder.encode(frame) + encoder.finish()).decode()
    python = yaml.load(text, Loader=yaml.SafeLoader)
    libyaml = yaml.load(text, Loader=yaml.CSafeLoader)
    return python, libyaml


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.none(), AWKWARD_TEXT), min_size=1, max_size=8),
    st.lists(AWKWARD_TEXT, min_size=2, max_size=2, unique=True),
)
def test_awkward_strings_read_back_as_the_same_strings(
    values: list[str | None], names: list[str]
) -> None:
    column, field = names
    assume(column not in {"listed", "nested"} and field != "inner")
    frame = pl.DataFrame(
        {
            column: pl.Series(values, dtype=pl.String),
            "listed": pl.Series([values] * len(values), dtype=pl.List(pl.String)),
            "nested": pl.Series(
                [{field: v, "inner": [{field: v}]} for v in values],
                dtype=pl.Struct(
                    {field: pl.String, "inner": pl.List(pl.Struct({field: pl.String}))}
                ),
            ),
        }
    )
    expected = frame.to_dicts()
    python, libyaml = round_trip(frame)
    assert python == expected
    assert libyaml == expected


def test_awkward_words_are_quoted_and_plain_words_are_not() -> None:
    frame = pl.DataFrame({"v": [*AWKWARD, "Ada", "São Paulo", "a.b@example.org"]})
    python, libyaml = round_trip(frame)
    assert [r["v"] for r in python] == frame["v"].to_list()
    assert libyaml == python
    encoder = ENCODERS["yaml"].make(ChunkContext("e", "d", 0))
    text = encoder.encode(frame).decode()
    for plain in ("Ada", "São Paulo", "a.b@example.org", "O'Brien", "Zoë"):
        assert f"- v: {plain}\n" in text
    for word in ("yes", "no", "null", "~", "1e3", "0x1F", "2026-01-01"):
        assert f'- v: "{word}"\n' in text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.binary(max_size=12)), min_size=1, max_size=8))
def test_binary_values_read_back_as_the_same_bytes(values: list[bytes | None]) -> None:
    # PostgreSQL bytea and SQLite BLOB columns reach the encoder as pl.Binary: bytes that
    # are no UTF-8 (b"\xff") must not fail the export, and UTF-8 ones (b"abc") must not come
    # back as strings, at the top level, in lists and in structs, empty or null.
    frame = pl.DataFrame(
        {
            "b": pl.Series(values, dtype=pl.Binary),
            "listed": pl.Series([values] * len(values), dtype=pl.List(pl.Binary)),
            "nested": pl.Series(
                [{"x": v, "inner": [{"x": v}]} for v in values],
                dtype=pl.Struct({"x": pl.Binary, "inner": pl.List(pl.Struct({"x": pl.Binary}))}),
            ),
        }
    )
    expected = frame.to_dicts()
    python, libyaml = round_trip(frame)
    assert python == expected
    assert libyaml == expected


def test_binary_is_written_as_base64_with_the_binary_tag() -> None:
    frame = pl.DataFrame({"b": pl.Series([b"abc", b"\xff\x00", b""], dtype=pl.Binary)})
    encoder = ENCODERS["yaml"].make(ChunkContext("e", "d", 0))
    text = encoder.encode(frame).decode()
    assert '- b: !!binary "YWJj"\n- b: !!binary "/wA="\n- b: !!binary ""\n' in text
