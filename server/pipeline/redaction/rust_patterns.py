r"""Patterns of Polars' (Rust's regex crate) read by Python's `re` with the same meaning,
for the card walk (card_chains.py), which reads in Python the patterns the card rule
runs in Polars: where the two engines disagree, the walk splits a run of cards where
the rule does not.

The classes of characters differ: Python's "\s" takes the separators \x1c-\x1f for
spaces, Rust's does not ("4111…\x1f5500…" was read as a card before a space, the second
left in clear); Python's "\w" takes every numeric character ("²", "½", category No),
Rust's takes combining marks (category M) and no such numbers; "\d" is Unicode's Nd in
both, of the Unicode version each was built with. So "\s", "\w" and "\d" and their
complements become explicit classes of Rust's own code points. Rust's "\s" is the fixed
White_Space list (`RUST_SPACE`); "\w" and "\d" are asked of Polars itself, once, when a
pattern first holds one (`_rust_classes`: ~52 ms CPU, once)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Final

import polars as pl

_Ranges = tuple[tuple[int, int], ...]


def _body(ranges: _Ranges) -> str:
    """`ranges` of code points as a class's body."""
    return "".join(
        rf"\U{first:08x}" if first == last else rf"\U{first:08x}-\U{last:08x}"
        for first, last in ranges
    )


#: Rust's "\s", Unicode's White_Space (a fixed list: read at plan time, unlike "\w").
_SPACE_RANGES: Final = (
    (0x09, 0x0D),
    (0x20, 0x20),
    (0x85, 0x85),
    (0xA0, 0xA0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
)
#: ... as a class's body.
RUST_SPACE: Final = _body(_SPACE_RANGES)
_LAST_CODE_POINT: Final = 0x10FFFF
_SURROGATES: Final = range(0xD800, 0xE000)
#: How a class opens: a "]" first (after "^" or not) is one of its characters.
_CLASS_OPENING: Final = re.compile(r"\[\^?\]?")
#: Escapes that mean the same in both: a character that is no letter nor digit, the
#: control characters' letters, two hex digits.
_SAME_ESCAPE: Final = re.compile(r"\\(?:[^0-9A-Za-z]|[tnrfv]|x[0-9A-Fa-f]{2})")
_CLASS_ESCAPES: Final = frozenset({r"\s", r"\S", r"\w", r"\W", r"\d", r"\D"})


@dataclass(frozen=True, slots=True)
class _RustClasses:
    r"""Rust's "\w" and "\d", as ranges of code points."""

    word: _Ranges
    digit: _Ranges


def python_pattern(rust: str) -> str:
    r"""`rust`, a pattern of Polars', as a pattern of Python's `re` with the same meaning.
    "\s", "\S", "\w", "\W", "\d", "\D" become Rust's classes, inside a class (negated
    or not: "[^\W\d]") and outside one; Rust's "$" is Python's "\Z" (Python's "$" also
    matches before a last line break). Escapes of other meanings ("\b", "\p{…}"), and
    nested classes, are refused: none of the walk's patterns has one."""
    out: list[str] = []
    in_class = False
    at = 0
    while at < len(rust):
        char = rust[at]
        if char == "\\":
            escape = rust[at : at + 2]
            if escape in _CLASS_ESCAPES:
                body = _class_body(escape)
                out.append(body if in_class else f"[{body}]")
                at += 2
                continue
            same = _SAME_ESCAPE.match(rust, at)
            if same is None:
                raise ValueError(f"no Python form for {escape!r} in {rust!r}")
            out.append(same.group())
            at = same.end()
            continue
        if in_class:
            if char == "[":
                raise ValueError(f"a nested class in {rust!r}")
            if char == "]":
                in_class = False
            out.append(char)
            at += 1
            continue
        if char == "[":
            opening = _CLASS_OPENING.match(rust, at)
            assert opening is not None
            out.append(opening.group())
            in_class = True
            at = opening.end()
            continue
        out.append(r"\Z" if char == "$" else char)
        at += 1
    return "".join(out)


@cache
def _class_body(escape: str) -> str:
    """The body of a class holding the characters Rust's `escape` matches (written
    once: "\\W" is ~800 ranges)."""
    if escape == r"\s":
        return RUST_SPACE
    if escape == r"\S":
        return _body(_complement(_SPACE_RANGES))
    classes = _rust_classes()
    ranges = classes.word if escape.lower() == r"\w" else classes.digit
    return _body(_complement(ranges) if escape.isupper() else ranges)


def _complement(ranges: _Ranges) -> _Ranges:
    """The code points outside `ranges` (sorted, apart)."""
    out, at = [], 0
    for first, last in ranges:
        if first > at:
            out.append((at, first - 1))
        at = last + 1
    if at <= _LAST_CODE_POINT:
        out.append((at, _LAST_CODE_POINT))
    return tuple(out)


@cache
def _rust_classes() -> _RustClasses:
    r"""Rust's "\w" and "\d", from Polars: every code point in order (two texts, apart
    where the surrogates no text holds are), Polars writes a "\x00" for each run of
    non-word characters, and what is left between two is a run of consecutive code
    points: a range. A digit is a word character: "\d" is read in what "\w" left (a
    tenth of it), where a run of digits may span code points left out, so point by
    point."""
    words = pl.Series(_code_points(), dtype=pl.String).str.replace_all(r"\W+", "\x00")
    runs = [run for text in words.to_list() for run in text.split("\x00") if run]
    word = tuple((ord(run[0]), ord(run[-1])) for run in runs)
    if any(last - first + 1 != len(run) for (first, last), run in zip(word, runs, strict=True)):
        raise AssertionError("a run of Rust's word characters is no range of code points")
    digits = "".join(words.str.replace_all(r"\D+", "").to_list())
    return _RustClasses(word=word, digit=_ranges_of(sorted(map(ord, digits))))


def _code_points() -> list[str]:
    """Every code point in order, as two texts: before and after the surrogates. Built
    as UTF-32 bytes, a byte lane at once (a character at a time took ~90 ms)."""
    count = _LAST_CODE_POINT + 1
    lanes = bytearray(4 * count)
    lanes[0::4] = bytes(range(256)) * (count // 256)
    lanes[1::4] = b"".join(bytes([high]) * 256 for high in range(256)) * (count // 0x10000)
    lanes[2::4] = b"".join(bytes([plane]) * 0x10000 for plane in range(count // 0x10000))
    return [
        lanes[: 4 * _SURROGATES.start].decode("utf-32-le"),
        lanes[4 * _SURROGATES.stop :].decode("utf-32-le"),
    ]


def _ranges_of(points: list[int]) -> _Ranges:
    """Sorted code points as ranges of consecutive ones."""
    out: list[tuple[int, int]] = []
    for point in points:
        if out and out[-1][1] == point - 1:
            out[-1] = (out[-1][0], point)
        else:
            out.append((point, point))
    return tuple(out)
