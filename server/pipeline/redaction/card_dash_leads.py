"""Leads for cards after a word and a dash that more digits follow.

A word and a dash lead no card (entities._START: an order id's digits, `ORD-12-4111…`);
text_markers.WORD_DASH gives one only where a card's shape ends the number, since a
shape that more groups follow may start on an id's group (`ORD-1234 4111 1111 1111
1111`, `é-1234 4111 …`): led there, the candidate took the id and failed, and the card
after it, which the space before it leads, stayed in clear. So a card whose shape more
digits follow (`ü-4111111111111111 12`, `(card)-4111 1111 1111 1111 1234`, a date or a
second card after it) had no lead and stayed in clear.

Here the run of digit groups after the dash is read in Python: it gets a lead (a
joiner after the dash) where the rule, led there, reads a valid card (issuer, length,
Luhn, one kind of separator: validators.is_card) at the run's start, as the whole run
or with its last groups as context (card_groups.without_last_group), or after its first
groups where those are 13 digits or four groups of four (card_groups.CARD_AFTER_GROUPS:
`x-4222222222222-5500 0000 0000 0004`, which an ASCII letter and a dash led on main;
not after an id's short groups, `ORD-12-4111…`); and where no card starts at a later
group before that card's end (or start): that card, which the run's own spaces lead,
the rule finds without the lead (`é-4024 4111 1111 1111 1111`, should `4024 4111 1111
1111` pass, is the id and the card after it). The walk reads the cards after a written
one (card_chains.py). Only the values a scan finds holding a word, dashes and a run
that can lead are read (13 digits from an issuer's first digits, or 13 digits or four
groups of four before 13 more: `WORD_DASH_BEFORE_RUN`), each distinct value once; the
run's word is checked on the one character before the dashes. Ordinary dashed ids and
log lines (`ORDER-2024-000123-4567 shipped`, `build-20240102-123456-7`) are not read;
a column of runs that start with an issuer's digits and 13 digits after a word and a
dash (`ü-<16 digits> 12`) is, at ~6 µs a distinct value.

Measured over a grid of leads x cards and look-alikes x separators x trailing groups
(108,813 texts, main 107be2b against this module): no card main masks is left in
clear, no text without a card changes.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.card_groups import CARD_AFTER_GROUPS
from sluice.server.pipeline.redaction.compaction import row_positions
from sluice.server.pipeline.redaction.number_separators import CARD_DASH, CARD_SEPARATOR, DASHES
from sluice.server.pipeline.redaction.phone_runs import JOINER
from sluice.server.pipeline.redaction.rust_patterns import python_pattern
from sluice.server.pipeline.redaction.validators import is_card, luhn_valid

#: The word before the dash, as text_markers.WORD_DASH reads it: a letter of any script
#: or "_", or what closes a word (a tag's "]", a bracket, a quote).
_WORD: Final = r"(?:[^\W\d]|[)\]}\"'>])"
#: A run of digit groups, each after at most one separator (card_chains._RUN).
_RUN: Final = rf"[0-9](?:{CARD_SEPARATOR}?[0-9])*"
#: For Polars: a run after a word and dashes that has a separator, or 13 to 19 digits spaces,
#: dots or dashes and digits after them. Other runs are a card's shape that ends the
#: number, which WORD_DASH leads, or longer than any card: ids glued to a word
#: (`INV-20240102123456`) are not read in Python.
_RUN_GOES_ON: Final = (
    rf"{_WORD}{CARD_DASH}+(?:[0-9]+(?:{CARD_SEPARATOR}[0-9]+)+"
    rf"|[0-9]{{13,19}}[\s.\-{DASHES}\x02]+[0-9])"
)
_SEPARATOR_OR_NOT: Final = f"{CARD_SEPARATOR}?"
#: An issuer's first digits (validators.CARD_BRANDS: 2[2-7], 3, 4, 5[1-5], 6[0245]) and
#: 13 digits from there: a card the rule reads at the run's start starts so.
_CARD_AT_START: Final = (
    rf"[34](?:{_SEPARATOR_OR_NOT}[0-9]){{12}}"
    rf"|(?:2{_SEPARATOR_OR_NOT}[2-7]|5{_SEPARATOR_OR_NOT}[1-5]|6{_SEPARATOR_OR_NOT}[0245])"
    rf"(?:{_SEPARATOR_OR_NOT}[0-9]){{11}}"
)
#: 13 digits or four groups of four, then at least 13 digits: a card after the run's
#: first groups (`_card_after_groups_start`) is read there only.
_CARD_AFTER_START: Final = (
    rf"(?:[0-9]{{13,}}|[0-9]{{4}}(?:{CARD_SEPARATOR}[0-9]{{4}}){{3}})"
    rf"{CARD_SEPARATOR}[0-9](?:{_SEPARATOR_OR_NOT}[0-9]){{12}}"
)
#: ... and a word, dashes and a run that can lead (`_joiners`): a card's first digits at
#: its start, or 13 digits or four groups of four before a card (the values read here,
#: and among the values text_markers gives joiners). Ordinary ids and log lines after a
#: word and a dash (`ORDER-2024-000123-4567`, `build-20240102-123456-7`,
#: `req-1712345678901 200`) are not read in Python, nor copied by text_markers.
WORD_DASH_BEFORE_RUN: Final = rf"{_WORD}{CARD_DASH}+(?:{_CARD_AT_START}|{_CARD_AFTER_START})"
#: Dashes (from the first of them) and the run after them (group 1); the word before
#: them is checked on its one character (`_word`).
_DASHES_RUN: Final = re.compile(rf"{CARD_DASH}+({_RUN})")
_GROUP: Final = re.compile(r"[0-9]+")
#: `_DASHES_RUN` for Polars (`_may_hold_a_card`), and the dashes it starts with.
_DASHES_THEN_RUN: Final = rf"{CARD_DASH}+{_RUN}"
_LEADING_DASHES: Final = rf"^{CARD_DASH}+"
#: A run's first group of 13 digits or more, or its first four groups of four and more
#: after them (`_card_after_groups_start`).
_LONG_OR_FOURS_FIRST: Final = (
    rf"^(?:[0-9]{{13}}|[0-9]{{4}}(?:{CARD_SEPARATOR}[0-9]{{4}}){{3}}{CARD_SEPARATOR}[0-9])"
)
_FEWEST_DIGITS: Final = 13
_MOST_DIGITS: Final = 19


@cache
def _word() -> re.Pattern[str]:
    """`_WORD` in Python's `re` with Rust's classes (rust_patterns.py), built when a
    value is first read; matched at one character only."""
    return re.compile(python_pattern(_WORD))


@cache
def _card_after_groups() -> re.Pattern[str]:
    """card_groups.CARD_AFTER_GROUPS in Python's `re`."""
    return re.compile(python_pattern(CARD_AFTER_GROUPS))


def led_where_cards_start(values: pl.Series) -> pl.Series:
    """`values` (a series of text_markers' own: written in place) with a joiner after
    each word and dash before a run of digit groups that starts with a card
    (`_joiners`)."""
    held = values.str.contains(WORD_DASH_BEFORE_RUN) & values.str.contains(_RUN_GOES_ON)
    held = held.fill_null(False)
    if not held.any():
        return values
    chosen = values.filter(held)
    may = _may_lead(chosen)
    if not may.any():
        return values
    chosen = chosen.filter(may)
    # Each distinct value read once: a column of ids repeats them.
    read = {text: _led(text) for text in chosen.unique().to_list()}
    led = pl.Series([read[text] for text in chosen.to_list()], dtype=pl.String)
    return values.scatter(row_positions(held).filter(may), led)


def _may_lead(values: pl.Series) -> pl.Series:
    """Whether the run after dashes in each value may get a lead (`_joiners`), on the
    batch: every lead needs a valid card at the run's start, whose digits up to a
    group's end (13 to 19 of them) pass Luhn, or after its first groups (13 digits or
    four groups of four, then a run CARD_AFTER_GROUPS reads whole). Values with more
    than one such run are left to `_led`. Only the values where one may are read in
    Python: of the distinct runs starting with an issuer's digits (`ü-<16 digits>
    12`), most pass no Luhn check and get no lead, and each cost ~6 µs of Python. A
    necessary condition only (the word before the dashes, the issuer and the
    separators are left to `_led`), so a value it drops is one `_led` writes back as
    it was."""
    run = values.str.extract(f"({_DASHES_THEN_RUN})").str.replace(_LEADING_DASHES, "")
    digits = run.str.replace_all(r"[^0-9]", "")
    frame = pl.DataFrame({"run": run, "digits": digits})
    at_start = [
        pl.col("run").str.contains(rf"^(?:[^0-9]*[0-9]){{{length}}}(?:[^0-9]|$)")
        & luhn_valid(pl.col("digits").str.head(length))
        for length in range(_FEWEST_DIGITS, _MOST_DIGITS + 1)
    ]
    after_groups = pl.col("run").str.contains(_LONG_OR_FOURS_FIRST) & pl.col("run").str.contains(
        CARD_AFTER_GROUPS
    )
    several = values.str.count_matches(_DASHES_THEN_RUN) > 1
    may = frame.select(pl.any_horizontal(*at_start, after_groups).fill_null(True)).to_series()
    return may | several.fill_null(True)


@lru_cache(maxsize=1 << 16)
def _led(text: str) -> str:
    """`text` with the joiners `_joiners` gives each run after a word and a dash; kept
    for the passes after the first, which read the same values again."""
    parts, at = [], 0
    word = _word()
    for found in _DASHES_RUN.finditer(text):
        dashes = found.start()
        if not dashes or not word.match(text, dashes - 1):
            continue
        for offset in _joiners(found.group(1)):
            parts += [text[at : found.start(1) + offset], JOINER]
            at = found.start(1) + offset
    parts.append(text[at:])
    return "".join(parts)


def _joiners(run: str) -> tuple[int, ...]:
    """Where in the run after a word and a dash joiners go: none, or a lead at its
    start where the rule, led there, reads a valid card at its start
    (`_read_at_start`), or after its first groups (`_card_after_groups_start`), and no
    card starts at a later group before that card's end (or start): that card, which
    the run's own spaces lead, the rule finds without the lead.

    Where no reading of the rule's finds a card at the start but the run's first
    groups are a valid card (13 digits and groups after them, 13 to 19 digits in all)
    that a valid card follows (`a-4111111111111 111 5500 0000 0000 0004`), a joiner
    after them too, their trail and the next card's lead (`_card_then_card`): without,
    the first card had no lead and stayed in clear, as a phone's digits covered it on
    main by chance (`a-4111111111111 [PHONE] 0004`)."""
    groups = [(group.start(), group.end()) for group in _GROUP.finditer(run)]
    ends = [end for end in _read_at_start(groups) if is_card(run[:end])]
    split: tuple[int, ...] = ()
    if ends:
        before = max(ends)
    else:
        before = _card_then_card(run, groups)
        if before > 0:
            split = (before,)
        else:
            before = _card_after_groups_start(run, groups)
            if before < 0:
                return ()
    later = range(1, len(groups))
    if any(_card_starts(run, groups, first) for first in later if groups[first][0] < before):
        return ()
    return (0, *split)


def _card_then_card(run: str, groups: list[tuple[int, int]]) -> int:
    """Where a valid card of the run's first groups ends that a valid card starting at
    the next group follows, or -1."""
    digits = 0
    for last, (group_start, group_end) in enumerate(groups[:-1]):
        digits += group_end - group_start
        if digits > _MOST_DIGITS:
            break
        if (
            digits >= _FEWEST_DIGITS
            and is_card(run[:group_end])
            and _card_starts(run, groups, last + 1)
        ):
            return group_end
    return -1


def _read_at_start(groups: list[tuple[int, int]]) -> list[int]:
    """Where the candidates the rule reads from the run's start end: the whole run, the
    run without its last group (the greedy step), and its groups up to the first
    holding a card's fewest digits (the lazy step: card_groups.without_last_group);
    those of a card's length."""
    ends = {groups[-1][1]}
    if len(groups) > 1:
        ends.add(groups[-2][1])
    digits = 0
    for group_start, group_end in groups:
        digits += group_end - group_start
        if digits >= _FEWEST_DIGITS:
            ends.add(group_end)
            break
    return [end for end in ends if _FEWEST_DIGITS <= _digits(groups, end) <= _MOST_DIGITS]


def _digits(groups: list[tuple[int, int]], end: int) -> int:
    return sum(group_end - group_start for group_start, group_end in groups if group_end <= end)


def _card_after_groups_start(run: str, groups: list[tuple[int, int]]) -> int:
    """Where the valid card after digit groups the rule reads in the failing candidate
    of the whole run starts (card_groups.CARD_AFTER_GROUPS: `x-4222222222222-5500 0000
    0000 0004`, `x-4111-1111-1111-1112-5500000000000004`), or -1; only after groups an
    ASCII letter and a dash led on main (13 digits or four groups of four), not an id's
    short groups (`ORD-12-4111…`, `x-2024-01-02-5500…`: look-alikes)."""
    first = groups[0][1] - groups[0][0]
    in_fours = len(groups) > 4 and all(end - start == 4 for start, end in groups[:4])
    if first < _FEWEST_DIGITS and not in_fours:
        return -1
    found = _card_after_groups().fullmatch(run)
    if found is None:
        return -1
    name = "contiguous" if found.group("contiguous") is not None else "grouped"
    return found.start(name) if is_card(found.group(name)) else -1


def _card_starts(run: str, groups: list[tuple[int, int]], first: int) -> bool:
    """Whether a valid card starts at the group `first` of `run`."""
    start, digits = groups[first][0], 0
    for group_start, group_end in groups[first:]:
        digits += group_end - group_start
        if digits > _MOST_DIGITS:
            return False
        if digits >= _FEWEST_DIGITS and is_card(run[start:group_end]):
            return True
    return False
