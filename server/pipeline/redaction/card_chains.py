"""Cards right after a card the rule wrote over, led by characters that lead no card
alone ("4111… -5500…", "4111… $5500…", "4111… +5500…", "4111…**5500…"): "-" and "."
before a number make it negative or a fraction, "$" a price, "+" a phone, "*" a mask's
or emphasis' star, so the card pattern's lead rules them out (entities._START), and
"4111…2 -4111…1" stays as it is. After a valid card they are one more card of a list.

So are cards right after a written card with digit groups after them, after a space
too ("4111 1111 1111 1111 5500 0000 0000 0004 123"): the whole run is one candidate
that fails, the lazy step (card_groups.without_last_group) writes over the first card
and gives the rest back as context, and the rule after it takes the second card and
the groups as one candidate that fails again. After a written card the run is read as
the steps read it: the rest of the run as one card, then a greedy card with the groups
after it as context, then a lazy one (card_groups.groups_as_context); a short group of
one to three digits first is skipped ("4111… 12 5500… 1": the "12" is no card's), but
not a group of four ("4111… 1234 5500 0000 0000 0004" reads as the look-alike "1234 4111
1111 1111 1111" does: a long number whose tail is never a card).

Each card found is the lead of the next, so a run of n cards is n looks. Those were n
rounds of the three rules over the values holding one (~7 ms a round: 2,000 cards in
one value took 22 s); now one walk in Python over each such value, which looks at each
card's few characters and knows where each run of digit groups ends: linear in the
value. The walk reads the run as the rounds did, the rules in the same turn (a card
found by one rule leads the next rule's look), and only the cards found are replaced,
by the rule's action, as one column. Its worst case is many values each holding a short
run: ~5 µs CPU per value in Python (100,000 values of two cards and a group: 2.1 s at
strict, where the vectorised rounds took 1.6 s). A card inside a longer number ("1 4111 1111 1111
1111 1111") is still none: only what follows a written card is read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache, partial
from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.actions import tag
from sluice.server.pipeline.redaction.compaction import row_positions
from sluice.server.pipeline.redaction.fenced_rewrite import replacement
from sluice.server.pipeline.redaction.flat_lists import ELEMENT
from sluice.server.pipeline.redaction.number_separators import (
    CARD_SEPARATOR,
    CARD_SEPARATORS,
    CARD_SPACE,
)
from sluice.server.pipeline.redaction.policy import PatternRule
from sluice.server.pipeline.redaction.rust_patterns import python_pattern
from sluice.server.pipeline.redaction.text_markers import (
    CLOSE,
    JOINER,
    OPEN,
    joined_separators,
    with_joiners,
)
from sluice.server.pipeline.redaction.validators import is_card

#: The fewest digits of a card.
_SHORTEST_CARD: Final = 13
#: The longest candidate worth a check: 19 digits, a separator between each two.
_LONGEST_CARD_TEXT: Final = 37
#: The most characters a mask shows of a card: half the longest (`_written`).
_MOST_SHOWN: Final = _LONGEST_CARD_TEXT // 2
#: A space or tab after a written card: a card's spaces beyond ASCII too, as the steps
#: give back the groups after a card at them (number_separators.CARD_SEPARATORS).
_SPACE: Final = rf"(?:{CARD_SPACE}|\t)"
#: Between a written card and the next: up to four characters that are neither word nor
#: digit, the last no space (the sign before the card: a space alone leads it): spaces
#: any Unicode reads as one (an em space, a line break: "4111…\u2003-5500…",
#: "4111…\n-5500…"), not only a card's own (`_SPACE`), and signs, in any order. The
#: card's trail takes such spaces and signs, and the card after them stayed in clear:
#: after one space and one to three signs only, not after two spaces
#: ("4111…\u2003\u2003-5500…", "4111…  $5500…") nor a sign, a space and a sign
#: ("4111…- -5500…", "4111…+ $5500…").
_BETWEEN: Final = r"[^0-9A-Za-z_]{0,3}[^0-9A-Za-z_\s]"
#: ... or a space or tab alone: the rule takes a card after one, but not one the steps
#: after it gave back ("4111 1111 1111 1111 5500… 4111…": the lazy step writes over the
#: first card, the rule after it takes the two others as one failing candidate).
_BESIDE: Final = rf"(?:{_BETWEEN}|{_SPACE})"
#: A run of digit groups, as the card pattern's value reads it: a digit, then digits
#: each after at most one separator, a space or dash, ASCII or beyond
#: (number_separators.CARD_SEPARATORS: a run read with " " and "-" only ended at a
#: no-break space the rule read on through). The card pattern's trail never matches
#: inside one (a digit after a separator is a word), so every card candidate read
#: after a written card ends where its run ends, or at a separator inside it.
_RUN: Final = re.compile(rf"[0-9](?:{CARD_SEPARATOR}?[0-9])*")
#: A short group a card after a written one may follow ("4111… 12 5500…"): one only,
#: as several may be a phone number's ("4111… 7 555 123 4567-4303-…": "4567-4303-…" is
#: no card, however its digits add up).
_SHORT_GROUP: Final = re.compile(rf"[0-9]{{1,3}}{CARD_SEPARATOR}(?=[0-9])")
#: What may part two cards of a chain once joiners are in: `_BESIDE` and joiners.
_GAP: Final = re.compile(rf"[^0-9]{{1,{4 + 3 * len(JOINER)}}}(?=[0-9])")
#: The shortest card's digits in a run, and the digits right after them.
_SHORTEST_DIGITS: Final = re.compile(
    rf"[0-9](?:{CARD_SEPARATOR}?[0-9]){{{_SHORTEST_CARD - 1}}}[0-9]*"
)
#: For counting a run's digits: its separators left out.
_SEPARATORS_LEFT_OUT: Final = str.maketrans("", "", CARD_SEPARATORS)
#: A decimal fraction ending the groups after a card ("4111… 1234.50", card_groups.py).
_FRACTION: Final = re.compile(r"\.[0-9]+")


class _Step(IntEnum):
    """The rules a round ran, in their order: the rest of the run as a card, then a
    greedy card with groups after it, then a lazy one."""

    WHOLE = 0
    GREEDY = 1
    LAZY = 2


#: Each rule's next, in their turn.
_AFTER: Final = {step: _Step((step + 1) % len(_Step)) for step in _Step}
#: From each rule, the rules tried in their turn.
_TURN_FROM: Final = {
    step: tuple(_Step((step + turn) % len(_Step)) for turn in range(len(_Step))) for step in _Step
}
_WRITTEN: Final = "written"


@dataclass(frozen=True, slots=True)
class _ChainReader:
    """How the cards after a written one are found: the rule, its written form, and the
    card pattern's trail, in Python's `re` (`python_pattern`)."""

    rule: PatternRule
    written: re.Pattern[str]
    head: re.Pattern[str]
    beside: re.Pattern[str]
    trail: re.Pattern[str]

    def leads_another(self, card: str, *, checked: bool) -> bool:
        """Whether what the rule writes for `card` is a written card the next one may
        follow: a mask keeps at most what `_written` allows; a value read unchecked gets
        the tag whatever the action (fenced_rewrite.py)."""
        if not checked:
            return self.written.fullmatch(tag(self.rule.label)) is not None
        if self.rule.action != "mask":
            return True
        # As actions.mask writes it: the last min(keep, len // 2), none where len <= keep.
        keep = self.rule.keep_last
        shown = min(keep, len(card) // 2) if len(card) > keep > 0 else 0
        masked = "*" * (len(card) - shown) + card[len(card) - shown :]
        return self.written.fullmatch(masked) is not None


def cards_after_written(text: pl.Expr, rule: PatternRule) -> pl.Expr:
    """`text` (the card rule's output) with the cards right after a written card
    handled by the rule's action."""
    written = _walked_written(rule)
    if not written:
        return text
    return text.map_batches(
        partial(_rewritten_where_held, rule=rule, gate=_gate(written)),
        return_dtype=pl.String,
        is_elementwise=True,
    )


def _walked_written(rule: PatternRule) -> str:
    """What the rule writes for a card, as a pattern, if its cards are walked; else
    "" (an entity without groups beside cards, or an action writing nothing)."""
    entity = rule.entity
    if entity is None or not entity.cards_beside_groups:
        return ""
    return _written(rule)


def _gate(written: str) -> str:
    """For Polars: a written card and `_BESIDE` before a digit (the values to walk).
    A mask's stars from a run's first, as the walk's head reads them (`_run_start`;
    Polars has no look-behind): a shown count tried inside a run of stars
    ("*******7 3759" in "*************7 3759 117") held values main never walked, and
    the walk took the card after the written one that the card rule's later step
    writes with the one after it ("… 12 5123-…" stayed in clear under mask:10)."""
    start = r"(?:^|[^*])" if written.startswith(r"\*") else ""
    return f"{start}(?:{written}){_BESIDE}[0-9]"


def _written(rule: PatternRule) -> str:
    """What the rule writes for a card, as a pattern; "" for an action that writes
    nothing in the text (keep, null)."""
    if rule.action == "mask":
        # The last characters stay: digits and the separators between the card's
        # groups ("************** 1111", "*************1-1111"), a digit last. A mask
        # shows no more than it hides (actions.mask): of a card of L characters (13 or
        # more) the last min(keep_last, L // 2). Each count shown is tied to its stars,
        # else a written card's pattern ran on into the next card's first group
        # ("**********1111 1111 5500 …" under mask:14 read "1111 1111 5500" as kept,
        # and the card after it stayed in clear): keep_last shown after at least
        # keep_last stars (L >= 2 x keep_last), and k < keep_last shown (k = L // 2)
        # after k or k + 1 stars. A card of keep_last characters or fewer is all stars
        # (13 of them at least, `_LONGEST_CARD_TEXT` at most): it leads a walk too, as
        # the cards after it stayed in clear under mask:19 and above (or mask:16 after
        # 16 digits); only the valid cards after it are written, as after any other.
        # Tried first: stars then a short group and a card (`*** 12 5500 …`) read as a
        # mask showing half of a long card (` 12 5500 0000 0000` as its last 18
        # characters) gave a head whose card was none, and the card after it was
        # never looked at. The other way round, a card of 26 characters or more (k >=
        # 13 stars) showing a tail that starts with a separator, is rarer by far.
        keep = rule.keep_last
        if keep <= 0:
            return rf"\*{{{_SHORTEST_CARD},}}"
        kept_character = f"(?:[0-9]|{CARD_SEPARATOR})"

        def shown(count: int) -> str:
            return f"{kept_character}{{{count - 1}}}[0-9]"

        whole = rf"\*{{{max(1, keep, _SHORTEST_CARD - keep)},}}{shown(keep)}"
        halves = [
            rf"\*{{{count},{count + 1}}}{shown(count)}"
            for count in range(_SHORTEST_CARD // 2, min(keep, _MOST_SHOWN + 1))
        ]
        all_stars = (
            [rf"\*{{{_SHORTEST_CARD},{min(keep, _LONGEST_CARD_TEXT)}}}"]
            if keep >= _SHORTEST_CARD
            else []
        )
        return "|".join([*all_stars, whole, *halves])
    if rule.action in ("redact", "hash"):
        # A tag, or a pseudonym in its own or its sealed form (pseudonyms.py), neither
        # holding a "[": a tag tried at each "[CARD" of a long run read the rest of it.
        return rf"\[{re.escape(rule.label)}[^\]\[\s]*\]"
    return ""


def _chain_reader(rule: PatternRule) -> _ChainReader | None:
    """The walk's patterns in Python's `re`: built when a value is first walked (the
    card trail's classes are asked of Polars then, `rust_patterns`), and kept."""
    written = _walked_written(rule)
    if not written:
        return None
    # A "_" ends a card too: the card joined by it may be written over already
    # ("4111… -5500…_************1111"), and the joiners only part two runs of digits.
    assert rule.entity is not None
    trail = f"_|{rule.entity.trail}"
    return _ChainReader(
        rule=rule,
        written=_python_regex(written),
        # Only the written form, what may lead a card looked at ahead: a head taking
        # `_BESIDE` too would use up the stars of a next written card it is followed
        # by ("****1111,**5693… $4111…" at masks keeping 10 to 12), whose own head, and
        # the card after it, were then never found.
        head=_python_regex(f"{_run_start(written)}(?:{written})(?={_BESIDE}[0-9])"),
        beside=_python_regex(_BESIDE),
        trail=_python_regex(f"(?:{trail})"),
    )


@lru_cache(maxsize=64)
def _python_regex(rust: str) -> re.Pattern[str]:
    """`rust` compiled by Python's `re`, once: the trail's classes of Rust's word
    characters are long (~17,000 characters to compile, ~6 ms)."""
    return re.compile(python_pattern(rust))


def _run_start(written: str) -> str:
    """For a mask's stars: a head starts at a run's first star only. A head tried at
    each star of a long run read the rest of it each time (quadratic: 80,000 stars
    before a card took 20.7 s CPU). Not for a tag: a "*" of emphasis may lead one
    ("**[CARD] $4111…")."""
    return r"(?<!\*)" if written.startswith(r"\*") else ""


def _rewritten_where_held(values: pl.Series, rule: PatternRule, gate: str) -> pl.Series:
    # Only the values holding a written card then a digit are walked (few: a card right
    # after a written one), each once.
    held = values.str.contains(gate).fill_null(False)
    if not held.any():
        return values
    reader = _chain_reader(rule)
    assert reader is not None
    texts = values.filter(held)
    # The rule's rewrite reads values with joiners in (text_markers.py), and a value
    # holding one of its control characters without: every candidate is then replaced
    # by the tag, unchecked (fenced_rewrite.py).
    unusual = texts.str.contains(f"[{OPEN}{CLOSE}{JOINER}]").fill_null(False)
    joined = texts.to_frame(ELEMENT).select(
        with_joiners(pl.col(ELEMENT), *joined_separators(reader.rule))
    )
    read = pl.select(pl.when(unusual).then(texts).otherwise(joined.to_series())).to_series()
    reads, plain_tags = read.to_list(), unusual.to_list()
    walks = [
        _card_spans(text, reader, checked=not plain_tag)
        for text, plain_tag in zip(reads, plain_tags, strict=True)
    ]
    cards = [
        text[start:end] for text, spans in zip(reads, walks, strict=True) for start, end in spans
    ]
    if not cards:
        return values
    # `with_columns`: a tag is a literal, which `select` would give once, not per card.
    frame = pl.Series(ELEMENT, cards, dtype=pl.String).to_frame()
    replaced = frame.with_columns(replacement(pl.col(ELEMENT), reader.rule).alias(_WRITTEN))
    written = iter(replaced.get_column(_WRITTEN).to_list())
    done = []
    for text, spans, plain_tag in zip(reads, walks, plain_tags, strict=True):
        parts, at = [], 0
        for start, end in spans:
            card = next(written)
            parts += [text[at:start], tag(reader.rule.label) if plain_tag else card]
            at = end
        parts.append(text[at:])
        rebuilt = "".join(parts)
        done.append(rebuilt if plain_tag else rebuilt.replace(JOINER, ""))
    # `scatter` writes in place: into a copy, never the caller's values.
    return values.clone().scatter(row_positions(held), pl.Series(done, dtype=pl.String))


def _card_spans(text: str, reader: _ChainReader, *, checked: bool) -> list[tuple[int, int]]:
    """Where the cards after written ones are in `text`, in order. `checked`: only
    valid cards, else every candidate (a value holding a control character, as
    fenced_rewrite's fallback reads it)."""
    spans: list[tuple[int, int]] = []
    for head in reader.head.finditer(text):
        beside = reader.beside.match(text, head.end())
        assert beside is not None  # the head's lookahead read it
        start = beside.end()
        if spans and start < spans[-1][1]:
            continue
        step = _Step.WHOLE
        run = _run_from(text, start, reader)
        while True:
            found = _card_at(text, start, run, step, checked)
            if found is None and checked:
                skipped = _SHORT_GROUP.match(text, start, run.end)
                if skipped is not None:
                    start = skipped.end()
                    found = _card_at(text, start, run, step, checked)
            if found is None:
                break
            end, by = found
            spans.append((start, end))
            if not reader.leads_another(text[start:end], checked=checked):
                break
            after = _next_card(text, end, reader, checked)
            if after is None:
                break
            if after >= run.end:
                run = _run_from(text, after, reader)
            start, step = after, _AFTER[by]
    return spans


def _next_card(text: str, end: int, reader: _ChainReader, checked: bool) -> int | None:
    """Where the next card may start after a written one ending at `end`: after
    `_BESIDE`. Joiners the rule put beside the written card's digits are not read
    (the rule's next look put none there: the digits were written over)."""
    gap = _GAP.match(text, end)
    if gap is None:
        return None
    between = gap.group().replace(JOINER, "") if checked else gap.group()
    return gap.end() if reader.beside.fullmatch(between) else None


@dataclass(frozen=True, slots=True)
class _Run:
    """The rest of a run of digit groups, from a card's start: where it ends, its last
    separator (-1: none), and whether the card trail follows it, or a fraction then
    the trail (the groups after a card may end in one; a card alone may not)."""

    end: int
    last_separator: int
    card_ends: bool
    groups_end: bool


def _run_from(text: str, start: int, reader: _ChainReader) -> _Run:
    run = _RUN.match(text, start)
    assert run is not None
    end = run.end()
    last_separator = _last_separator(text, start, end)
    card_ends = reader.trail.match(text, end) is not None
    fraction = None if card_ends else _FRACTION.match(text, end)
    after_fraction = fraction is not None and reader.trail.match(text, fraction.end()) is not None
    return _Run(end, last_separator, card_ends, card_ends or after_fraction)


def _card_at(
    text: str, start: int, run: _Run, first: _Step, checked: bool
) -> tuple[int, _Step] | None:
    """The card starting at `start` in `run` (its end, and the rule that found it), the
    rules tried in their turn from `first`, or None."""
    for step in _TURN_FROM[first]:
        end = _candidate_end(text, start, run, step)
        if end < 0:
            continue
        if not checked or (end - start <= _LONGEST_CARD_TEXT and is_card(text[start:end])):
            return end, step
    return None


def _candidate_end(text: str, start: int, run: _Run, step: _Step) -> int:
    """Where the rule `step` ends its candidate from `start`, or -1 if it has none."""
    if step is _Step.WHOLE:
        end = run.end if run.card_ends else -1
    elif not run.groups_end:
        return -1
    elif step is _Step.GREEDY:
        end = run.last_separator
    else:
        end = _first_separator_after_shortest(text, start, run.end)
    if end <= start or _digits(text, start, end) < _SHORTEST_CARD:
        return -1
    return end


def _first_separator_after_shortest(text: str, start: int, run_end: int) -> int:
    """The first separator in the run after `_SHORTEST_CARD` digits from `start` (where
    the lazy card ends), or -1."""
    digits = _SHORTEST_DIGITS.match(text, start, run_end)
    if digits is None or digits.end() == run_end:
        return -1
    return digits.end()


def _digits(text: str, start: int, end: int) -> int:
    """How many digits `text[start:end]`, a part of a run, holds (the rest are its
    single separators), counted only as far as a card needs: the greedy card from a
    start early in a long run spans the rest of it, and counting it for each card of
    the run made the walk quadratic again."""
    if end - start > 2 * _LONGEST_CARD_TEXT:
        return end - start  # over half of them digits: more than any card has
    if text.isascii():  # at once (CPython knows): its separators are " " and "-" only
        return end - start - text.count(" ", start, end) - text.count("-", start, end)
    return len(text[start:end].translate(_SEPARATORS_LEFT_OUT))


def _last_separator(text: str, start: int, end: int) -> int:
    """Where the last separator of the run `text[start:end]` is, or -1. An ASCII text
    is searched for " " and "-" only (the walk's worst case, many values each holding
    a short run, took +14% CPU asking for each of CARD_SEPARATORS)."""
    if text.isascii():
        return max(text.rfind(" ", start, end), text.rfind("-", start, end))
    return max(text.rfind(separator, start, end) for separator in CARD_SEPARATORS)
