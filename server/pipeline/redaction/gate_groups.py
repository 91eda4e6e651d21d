"""Which of a leaf's free-text gates hold somewhere in its joined values, found with
few full-length scans (see `holding`).

Apart from compaction.py, which picks the rows and values each text stage runs on:
this only decides how the gates' scans are grouped, never what they find, and it reads
patterns (their alternatives, their leading class) to do so.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.entity import without_names


def holding(whole: pl.DataFrame, patterns: Sequence[str]) -> list[bool]:
    """Per pattern, whether it holds in `whole` (a leaf's values joined into one text,
    its column "v"); a pattern given twice (a rule's second round) is scanned once. The
    patterns with an alternative led by a class (`[0-9]{4}`, `[A-Z]{2}`) give the regex
    engine no literal to look for, so a scan of one reads every byte just as a scan of
    many does: those are scanned joined as one group (split only where it holds,
    `_settled`), the others (led by literals only: an e-mail's `@`, a coordinate's dot)
    alone, as joined they would lose them; all in one select, whose scans Polars runs
    in parallel, as it did the per-gate scans. Strict, text-heavy 1M rows:
    `request.referrer`'s 13 gates (none holding) cost 0.257 CPU s one by one, 0.038 so;
    `cc`'s (the e-mail gate holding) 0.098 -> 0.017. Moderate scans its two (e-mail,
    phone) one by one either way. The whole strict stage on 1M text-heavy rows
    (benchmarks.redaction_cpu, load 7-22) did not show it apart from noise: main 6.70,
    7.48 CPU s, this 6.84, 6.98, alternated."""
    distinct = list(dict.fromkeys(patterns))
    wide = [p for p in distinct if _has_wide_lead(p) and _joins(p)]
    groups = [[p] for p in distinct if p not in wide] + ([wide] if wide else [])
    late = int(whole.select(pl.col("v").str.len_bytes().sum()).item() * _LATE)
    holds: dict[str, bool] = {}
    for group, at in zip(groups, _first_matches(whole, groups), strict=True):
        if at is None:
            holds.update(dict.fromkeys(group, False))
        else:
            _settled(whole, group, at > late, late, holds)
    return [holds[p] for p in patterns]


#: Where in the joined text (its share) a group's first match makes it "late": a scan
#: of any of its parts then reads most of the text, as each member's own scan does.
_LATE: Final = 0.25


def _settled(
    whole: pl.DataFrame, group: Sequence[str], late: bool, late_at: int, holds: dict[str, bool]
) -> None:
    """Whether each of `group`, which holds in `whole` (first `late` in it, or could not
    be built joined), holds, into `holds`, by group testing: the group is split in two
    and both halves scanned joined in one select; a half that holds nowhere needs no
    more scans, one that holds is split again, down to single patterns. A scan of a
    group that holds ends at its first match, and one of a group holding nowhere costs
    no more than one pattern's (often less: strict's IPv4 or phone gate alone reads hex
    text at 4x the group's cost), so halving pays where the holding ones hold early.
    Where they hold late it would take up to 2n-1 full scans for n patterns: a group
    whose first match lies past `late_at` has each member scanned instead, in one
    select, n+1 scans with its own. Strict's gates, 100k short values, CPU s with one
    Polars thread (halving always / so / one by one): all holding at the end 0.026-0.029
    / 0.017 / 0.016, one holding at the end 0.014-0.015 / 0.017 / 0.016, hex values
    (two holding early) 0.0045 / 0.0048 / 0.034."""
    if len(group) == 1:
        holds[group[0]] = True
        return
    if late:
        found = _first_matches(whole, [[p] for p in group])
        holds.update((p, at is not None) for p, at in zip(group, found, strict=True))
        return
    halves = [group[: len(group) // 2], group[len(group) // 2 :]]
    for half, at in zip(halves, _first_matches(whole, halves), strict=True):
        if at is None:
            holds.update(dict.fromkeys(half, False))
        else:
            _settled(whole, half, at > late_at, late_at, holds)


def _first_matches(whole: pl.DataFrame, groups: Sequence[Sequence[str]]) -> list[int | None]:
    """Per group, where in `whole` one of it first holds (a byte offset; None: nowhere),
    in one select (Polars runs its scans in parallel). A group the regex engine cannot
    build joined (over its size limit, which each alone may stay under) counts as
    holding at its start, so it is split; a pattern alone that cannot be built fails as
    its gate would."""
    try:
        return list(whole.select(_first(g).alias(str(n)) for n, g in enumerate(groups)).row(0))
    except pl.exceptions.PolarsError:
        if all(len(g) == 1 for g in groups):
            raise
        return [_first_or_unbuilt(whole, g) for g in groups]


def _first_or_unbuilt(whole: pl.DataFrame, group: Sequence[str]) -> int | None:
    try:
        found: int | None = whole.select(_first(group)).item()
    except pl.exceptions.PolarsError:
        if len(group) == 1:
            raise
        return 0
    return found


def _first(group: Sequence[str]) -> pl.Expr:
    """Where one of `group` first holds: a pattern alone is scanned as it is written (as
    the gate is), several joined."""
    pattern = group[0] if len(group) == 1 else "|".join(f"(?:{without_names(p)})" for p in group)
    return pl.col("v").str.find(pattern).min()


@functools.lru_cache(maxsize=256)
def _has_wide_lead(pattern: str) -> bool:
    """Whether one of the pattern's top-level alternatives is led by a class of many
    (`led_by_class`). Cached: a policy's gates are few, and read each batch."""
    return any(led_by_class(alternative) for alternative in _alternatives(pattern))


def _joins(pattern: str) -> bool:
    """Whether a pattern can be joined with others into one alternation: not if it
    names a group (a custom pattern's names may repeat across patterns; the built-in
    ones' are removed, `without_names`) or may turn on verbose mode, whose comments run
    to the end of the joined text. When unsure, it says no: that only scans it alone."""
    bare = without_names(pattern)
    return "(?P<" not in bare and "(?<" not in bare and _VERBOSE.search(bare) is None


#: A flag group that may turn on verbose mode (`(?x)`, `(?ix:`).
_VERBOSE: Final = re.compile(r"\(\?[a-zA-Z-]*x")


def _alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of a pattern (split at each `|` outside groups and
    classes; Rust's classes nest). An unusual pattern split wrongly only changes how
    gates are grouped for their scans (`holding`), never what they find."""
    parts: list[str] = []
    depth = classes = start = at = 0
    while at < len(pattern):
        char = pattern[at]
        if char == "\\":
            at += 2
            continue
        if classes:
            classes += {"[": 1, "]": -1}.get(char, 0)
        elif char == "[":
            classes = 1
            # A "]" first in a class (after a "^") is a literal.
            at += 1 + pattern.startswith("^", at + 1)
            at += pattern.startswith("]", at)
            continue
        elif char in "()":
            depth += 1 if char == "(" else -1
        elif char == "|" and depth == 0:
            parts.append(pattern[start:at])
            start = at + 1
        at += 1
    return [*parts, pattern[start:]]


#: What a pattern may open with before its first character: a word boundary, a group
#: (non-capturing, with flags, or named).
_OPENING: Final = re.compile(r"(?:\\b|\(\?-u:\\b\)|\(\?[a-zA-Z-]*:|\(\?P<\w+>)*")


#: A class of many characters: one with a range or negated, any character, or one of
#: the escaped classes. (The regex engine takes a class of a few, `[sr]k_`, as that few
#: literals.)
_WIDE_CLASS: Final = re.compile(r"\[\^|\[[^\]]*?\w-\w|\.|\\[sSdDwWpP]")


def led_by_class(pattern: str) -> bool:
    """Whether a pattern's first character is a class of many (`[A-Za-z]`, `.`, `\\s`,
    ...), so it has no leading literal for the regex engine to look for. Only its first
    alternative is looked at, and an unusual opening reads as a literal: this only
    decides how gates are scanned, not what they find."""
    opening = _OPENING.match(pattern)
    return _WIDE_CLASS.match(pattern, opening.end() if opening else 0) is not None
