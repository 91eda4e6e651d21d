"""The control characters the text rewrites put into values while they work, and the
joiners that give a value after a separator a lead of its own.

Entity patterns consume the character after a match (their trail) and the one before it
(their lead), so in "4111…1111,5500…0004" the first match takes the comma the second
needs as its lead. Before matching, a joiner (STX, shared with phone_runs.py) is put
after each `,` `;` `|` that starts another value, giving the next candidate a lead of
its own; it is removed again afterwards.
"""

from __future__ import annotations

from functools import partial
from typing import Final

import polars as pl

from sluice.server.pipeline.redaction import phone_runs
from sluice.server.pipeline.redaction.card_dash_leads import (
    WORD_DASH_BEFORE_RUN,
    led_where_cards_start,
)
from sluice.server.pipeline.redaction.compaction import row_positions
from sluice.server.pipeline.redaction.number_separators import CARD_DASH, CARD_SEPARATOR, CARD_SPACE
from sluice.server.pipeline.redaction.policy import PatternRule

#: Around each candidate of the fenced rewrite (fenced_rewrite.py): NUL before, SOH after.
OPEN: Final = "\x00"
CLOSE: Final = "\x01"
#: References to an entity pattern's groups in a replacement.
LEAD, VALUE, TRAIL = "${sl_lead}", "${sl_value}", "${sl_trail}"
#: The joiner (STX): the one phone_runs.py puts between the numbers of a run.
JOINER: Final = phone_runs.JOINER
#: A separator another value may follow directly ("A,B"): it gets a joiner after it.
JOINED: Final = r"([,;|])([0-9A-Za-z+(])"
#: For cards also a "/" (`4111…/5500…`) and a tab or line break (one card per line): the
#: card's trail takes it alone (entities._CARD_END), and the joiner is the next one's lead.
#: And a joiner wherever a card's trail takes the character the next card needs as its
#: lead (entities._CARD_END): spaces and a letter (`4111… x5500…`), or separators and
#: one more character (`4111… (5500…`, `4111…. 5500…`, `4111… - 5500…`). The trail never
#: takes a joiner after separators, and the joiner only gives back a lead that was there
#: (not after a character that leads no card: `4111… -5500…`, entities._START).
_TAKEN_LEAD = r"[0-9](?:\s+[^\W\d]|[\s.\-]+[^0-9A-Za-z_.\-/$€£+*\x02])"
#: And after a word and a dash (`card-4111…`, `x-4111 1111 1111 1111`), which lead no
#: card (entities._START: an order id's digits, `ORD-12-4111…`): only before a card's
#: shape, 13 digits, four groups of four (one separator, two spaces or dots between
#: them: `x-4111  1111  1111  1111`, `x-4111.1111.1111.1111`) or Amex's 4-6-5, so an
#: id's short groups still lead none. The word is one letter of any script (`é-4111…`)
#: or "_", or what closes one: the "]" of a tag another rule wrote (`[EMAIL]-4111…`), a
#: bracket or a quote (`(x)-4111…`, `"card"-4111…`, `<b>-4111…`); one dash or more
#: (`x--4111…`); or in fours parted by dots with digit groups after them
#: (`ref-4111.1111.1111.1111 12 34`): the dots end the card, so no id's group can start
#: it, and the groups after it are the steps' context (card_groups.without_last_group);
#: without a lead, the card stayed in clear.
_DOTTED_CARD_BEFORE_GROUPS: Final = (
    rf"[0-9]{{4}}(?:\.[0-9]{{4}}){{3}}(?:\.[0-9]{{3}})?(?:{CARD_SEPARATOR}[0-9]+)+"
)
_CARD_SHAPE: Final = (
    rf"{_DOTTED_CARD_BEFORE_GROUPS}|[0-9]{{13,19}}|[0-9]{{4}}(?:{CARD_SEPARATOR}[0-9]{{4}}){{3}}"
    rf"|[0-9]{{4}}(?:{CARD_SPACE}{{2}}\x02?[0-9]{{4}}){{3}}|[0-9]{{4}}(?:\.[0-9]{{4}}){{3}}"
    rf"|[0-9]{{4}}{CARD_SPACE}{{2}}\x02?[0-9]{{6}}{CARD_SPACE}{{2}}\x02?[0-9]{{5}}"
    rf"|[0-9]{{4}}{CARD_SEPARATOR}[0-9]{{6}}{CARD_SEPARATOR}[0-9]{{5}}"
)
#: ... and only where the shape ends the number: at the end, before a character that
#: is neither a digit nor a separator, or before separators and no digit after them
#: (consumed, group 3: the pattern engine has no look-ahead). A shape that more groups
#: follow may start on an id's group (`order-2024 000123 4111…` read as Amex's 4-6-5,
#: `ORD-1234  4111  1111  1111  1111`, `é-1234 4111 1111 1111 1111`,
#: `ORD-1234 4111 1111 1111 1111`): led there, the candidate took the id and failed,
#: and the card after it, found without the lead, stayed in clear. A card whose shape
#: more digits follow (`ü-4111111111111111 12`, `(card)-4111 1111 1111 1111 1234`, a
#: date or a second card after it) gets its lead in a pass of its own, where the run
#: starts with a valid card (card_dash_leads.py). The end is consumed, and it may be
#: the next word's letter (`x-4111… é-5500…`): so the pass runs twice, and a dash
#: already followed by a joiner matches no more. (An ASCII letter and one dash led 13
#: digits or four groups of four wherever they stood: `ORD-1234 4111 1111 1111 1111`
#: kept the card in clear, where `é-1234 4111 …` did not; now read as any word is.)
_BESIDE_GROUPS: Final = r"\s.\-\u2010-\u2015\u2212\uff0d\x02"
_SHAPE_END: Final = rf"[{_BESIDE_GROUPS}]*(?:$|[^0-9{_BESIDE_GROUPS}])"
WORD_DASH: Final = rf"((?:[^\W\d]|[)\]}}\"'>]){CARD_DASH}+)({_CARD_SHAPE})({_SHAPE_END})"
#: ... in a pass of its own after the others: in one pass, a separator's joiner
#: (`x,a-4111…`, `/a-4111…`) or a taken lead (`4111… a-5500…`) took the word's letter
#: first, and the card after it stayed in clear. Before the pass for two spaces
#: (`SPACED_CARD`), so the joiners the taken lead put between such groups are read.
#: And a joiner before a space no card is written with (an em space, a line separator:
#: not number_separators.CARD_SEPARATORS) between two digits
#: (`4111 1111 1111 1111\u20035500 0000 0000 0004`): the card's value does not read on
#: through it, and its trail took none before a digit, so the card before it had no
#: end and stayed in clear. The joiner is its trail, the space the next one's lead.
_OTHER_SPACES: Final = r"\x0b\x0c\x85\u1680\u2000-\u2006\u2008\u200a\u2028\u2029\u205f"
#: And a joiner after such a space, or any other, escaped in a JSON string before a
#: digit (`4111 1111 1111 1111\u20035500 0000 0000 0004`, `x\u20034111…`, as
#: `json.dumps` writes one): the escape's last hex digits glued onto the card's, which
#: had no lead and stayed in clear.
_ESCAPED_SPACE: Final = r"\\u(?:000[bBcC]|0085|00[aA]0|1680|200[0-9aA]|202[89fF]|205[fF]|3000)"
#: And a joiner after a date and a space before a digit (`06/2024 4111 …`, `01/06/2024
#: 4111…`, `2024-01-02 4111…`): the joiner after the date's "/" made the year a group
#: of four before the card, which reads as one more of a longer number (card_groups.py),
#: and the card stayed in clear; after an ISO date, the card with an amount after it
#: (`2024-01-02 4111 1111 1111 1111 12.50`) was none of the steps' (card_groups.py
#: reads the date only in a candidate the card ends). The date is found from the
#: character before it, so it is read before its "/" is; its own digits get no lead.
#: Only where a word, a sign or the text's start comes before it, or short groups after
#: one (`qty 7 2024-01-02 …`, as card_groups.CARD_AFTER_GROUPS reads groups before a
#: date): after a group of four or more (`1234 2024-01-02 5500 …`) the date is a piece
#: of a longer number, whose tail is never a card.
_DATE_BEFORE_CARD = (
    rf"(?:^|[^0-9\s/.\-])\s*(?:[0-9]{{1,3}}{CARD_SEPARATOR})*"
    rf"(?:[0-9]{{1,2}}/(?:[0-9]{{1,2}}/)?[0-9]{{4}}"
    rf"|[0-9]{{4}}{CARD_DASH}[0-9]{{2}}{CARD_DASH}[0-9]{{2}}){CARD_SPACE}"
)
_JOINED_OR_TAKEN: Final = (
    rf"({_DATE_BEFORE_CARD})([0-9])"
    rf"|([,;|/\t\n\r])([0-9A-Za-z+(])|({_TAKEN_LEAD})([0-9])|([0-9])([{_OTHER_SPACES}][0-9])"
    rf"|({_ESCAPED_SPACE})([0-9])"
)
JOINED_CARDS: Final = rf"{_JOINED_OR_TAKEN}|{WORD_DASH}|{WORD_DASH_BEFORE_RUN}"
#: The joiner after the date (groups 1, 2 of `_JOINED_OR_TAKEN`; absent groups read as
#: ""), the separator (groups 3, 4) or the taken lead (groups 5, 6), or before the other
#: space (groups 7, 8), or after the escaped space (groups 9, 10), and after the word
#: and dash (groups 1 to 3 of `WORD_DASH`).
_JOINER_AFTER: Final = f"${{1}}${{3}}${{5}}${{7}}${{9}}{JOINER}${{2}}${{4}}${{6}}${{8}}${{10}}"
_JOINER_AFTER_DASH: Final = f"${{1}}{JOINER}${{2}}${{3}}"
#: A card printed in four groups of four parted by two spaces (`4111  1111  1111  1111`,
#: or Amex's 4-6-5: `3782  822463  10005`; entities.py reads them): `_TAKEN_LEAD`
#: takes each two spaces for a trail and the next group's lead, and its joiners part
#: the card's groups. A pass after JOINED_CARDS takes
#: the joiners out of such a layout again (with the digits that glue onto it, so it is
#: no piece of a longer run) and puts one before it, as its lead: after a character
#: that leads a card (not a digit, nor "." "-" "/" ...: entities' CARD lead, which takes
#: "#", a letter and "_" too: `#4111  1111 …`, `cc_4111  1111 …`), after a joiner
#: (which JOINED_CARDS puts after a "/" that parts cards: `4111  …/5500  …`), or at the
#: start. A separate pass, so the joiner JOINED_CARDS puts after the layout
#: (`4111  1111  1111  1111  5500…`, `1111  2222  3333  4444  4111…`) stays: taken
#: with the layout in one pass, the card after it had no lead of its own and stayed in
#: clear. JOINED_CARDS' taken lead matches every such layout, so the scan for it finds
#: the rows this pass rewrites.
#: Two spaces, beyond ASCII too (`4111\u00a0\u00a01111 …`: number_separators.CARD_SPACE).
_TWO_SPACES = f"{CARD_SPACE}{{2}}"
SPACED_CARD: Final = (
    r"(?:(^|[^0-9.\-/$€£+*\x02])\x02?|\x02)"
    rf"([0-9]{{4}})({_TWO_SPACES})\x02?"
    rf"(?:([0-9]{{4}})({_TWO_SPACES})\x02?([0-9]{{4}})({_TWO_SPACES})\x02?([0-9]{{4}}[0-9]*)"
    rf"|([0-9]{{6}})({_TWO_SPACES})\x02?([0-9]{{5}}[0-9]*))"
)
_SPACED_CARD_JOINED: Final = (
    f"${{1}}{JOINER}${{2}}${{3}}${{4}}${{5}}${{6}}${{7}}${{8}}${{9}}${{10}}${{11}}"
)
#: A space alone (any of Unicode's, a no-break one too) between such a layout and a
#: card after it, or between a card and such a layout after it (`4111  1111  1111  1111
#: 5500  0000  0000  0004`, `4111…1111 5500  0000 …`, `4111  …  1111 5500…`): the
#: first card's trail took no space before a digit (a run ends only where no word
#: follows), the layout is no run the steps give groups back from (card_groups.py), and
#: the first card stayed in clear. A joiner before the space is its trail; the space, or
#: the joiner `SPACED_CARD` put after it, the next card's lead. Two groups of the layout
#: beside the space, so a date's or an amount's digits beside one space get none.
#: Also such a layout after a sign, which leads no card (`$4111  1111  1111  1111 5500
#: 0000 0000 0004`): `SPACED_CARD` leaves it (and the joiners the taken lead put
#: between its groups) as it is, the layout's last group and the card after it were
#: one candidate that failed (a group of four before a card: card_groups.py), and the
#: card after it stayed in clear. The layout itself stays as a "$" leaves it.
_SIGN_THEN_SPACED: Final = rf"[$€£+*.\-/]\x02?[0-9]{{4}}(?:{_TWO_SPACES}\x02?[0-9]{{4}}){{3}}"
_SPACED_CARD_PARTED: Final = (
    rf"([0-9]{{4,6}}{_TWO_SPACES}[0-9]{{4,5}})(\s)(\x02?[0-9])"
    rf"|([0-9])(\s)(\x02?[0-9]{{4}}{_TWO_SPACES}[0-9]{{4,6}}{_TWO_SPACES})"
    rf"|({_SIGN_THEN_SPACED})(\s)(\x02?[0-9])"
)
_SPACED_CARD_PARTED_JOINED: Final = (
    f"${{1}}${{4}}${{7}}{JOINER}${{2}}${{5}}${{8}}${{3}}${{6}}${{9}}"
)
#: For cards, a joiner on either side of a separator between two card-sized runs
#: (`4111….5500…`, `4111…:5500…`, `4111…-5500…-3782…`, `4111…_5500…`, a no-break
#: space): the first card's trail takes the joiner before it, the next card's lead the
#: one after. The trail took none of these before a digit (a run ends only where no word
#: follows), and "-", "." lead no card. A space too: "12-3782… 4111…" was one candidate
#: whose first card is no card after short groups alone (card_groups.py). Card-sized
#: on both sides keeps dates, times, versions, ISBNs and amounts out (`2024-01-02`,
#: `12:30`, `1.2.3`, `4111….50`); a look-alike so joined stays unchanged (its check
#: fails), as "4111…2-4111…3" did.
#: Spaces beyond ASCII too (a no-break, thin, Ogham or ideographic one:
#: `4111…\u30005500…`), and the other characters Unicode reads as space or line break
#: (a vertical tab, form feed, NEL, line and paragraph separator).
#: Joined by ".", ":" or ")", the run before must be card-shaped, 13 to 19 digits led
#: by an issuer's (2 to 6, validators.CARD_BRANDS; 13 for an old Visa card:
#: `4222222222222.5500…`), as a look-alike of a card is: a decimal's or an id's first
#: part mostly is not (`1234567890123.4111…1`, a millisecond timestamp;
#: `1234567890123:4111…1`), and its fraction or second part is no card.
#: Cards printed in groups joined by "." too (`4111 1111 1111 1111.5500 0000 …`): the
#: first group led by an issuer's digit, the next card's first two groups after it.
PARTED_CARDS: Final = (
    r"([0-9]{13})(-+|[ _\x0b\x0c\x85\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])"
    r"([0-9]{13})"
    r"|((?:^|[^0-9])[2-6][0-9]{12,18})(\.+|[:)])([0-9]{13})"
    r"|((?:^|[^0-9])[2-6][0-9]{3}(?:[ -][0-9]{3,6}){2,4})(\.+)([0-9]{4}[ -][0-9]{4})"
)
#: Groups 1 to 3, 4 to 6 or 7 to 9 (absent groups read as "").
_JOINERS_AROUND: Final = f"${{1}}${{4}}${{7}}{JOINER}${{2}}${{5}}${{8}}{JOINER}${{3}}${{6}}${{9}}"


def with_joiners(text: pl.Expr, joined: str = JOINED, parted: str = "") -> pl.Expr:
    """`text` with a joiner after each separator that starts another value (`JOINED`),
    and on either side of each separator `parted` matches (`PARTED_CARDS`). Few values
    hold one (prose has ", " after its commas): the rows that do are found by a scan,
    which costs a third of the regex replace that copies every row, and only those are
    rewritten (on the text-heavy set, ~7% of the rows a phone gate picks)."""
    return text.map_batches(
        partial(_with_joiners, joined=joined, parted=parted),
        return_dtype=pl.String,
        is_elementwise=True,
    )


def joined_separators(rule: PatternRule) -> tuple[str, str]:
    """The separators `with_joiners` gives the rule's values joiners at."""
    return (JOINED_CARDS, PARTED_CARDS) if rule.validator == "card" else (JOINED, "")


def _with_joiners(values: pl.Series, joined: str, parted: str) -> pl.Series:
    # One scan for both: the rows holding either are few.
    needs = values.str.contains(f"{joined}|{parted}" if parted else joined).fill_null(False)
    if not needs.any():
        return values
    where = row_positions(needs)
    if joined == JOINED_CARDS:
        with_joiner = _with_card_joiners(values.filter(needs))
    else:
        with_joiner = values.filter(needs).str.replace_all(joined, _JOINER_AFTER)
    if parted:
        # A match takes the first 13 digits of the run after it, so in a chain
        # ("4111…-5500…-3782…") the next separator is found by a second pass.
        for _ in range(2):
            with_joiner = with_joiner.str.replace_all(parted, _JOINERS_AROUND)
    # `scatter` writes in place: into a copy, never the caller's values.
    return values.clone().scatter(where, with_joiner)


def _with_card_joiners(values: pl.Series) -> pl.Series:
    """`values` (the rows holding a match of JOINED_CARDS or PARTED_CARDS) with the
    joiners of JOINED_CARDS: after a separator or a taken lead, then after a word and a
    dash (`WORD_DASH`, twice: see there), and after one before a run that starts
    with a card (card_dash_leads.py), then around two-space layouts (`SPACED_CARD`,
    then `_SPACED_CARD_PARTED`). The later passes rewrite only the rows holding a match
    of `WORD_DASH`, or of `SPACED_CARD` (both two-space passes: `_SPACED_CARD_PARTED`
    matters only beside such a layout), found by a scan: few rows hold one, and a scan
    costs about a quarter of a replace that copies every row (~0.004 against 0.015 CPU
    s over the 215,000 values that need joiners among the 1.6M strings of the
    200,000-row text-heavy set)."""
    joined = values.str.replace_all(_JOINED_OR_TAKEN, _JOINER_AFTER)
    led = (WORD_DASH, _JOINER_AFTER_DASH)
    joined = _replaced_where_held(joined, WORD_DASH, (led, led))
    joined = led_where_cards_start(joined)
    spaced = ((SPACED_CARD, _SPACED_CARD_JOINED), (_SPACED_CARD_PARTED, _SPACED_CARD_PARTED_JOINED))
    return _replaced_where_held(joined, f"{SPACED_CARD}|{_SIGN_THEN_SPACED}", spaced)


def _replaced_where_held(
    values: pl.Series, needle: str, replacements: tuple[tuple[str, str], ...]
) -> pl.Series:
    """`values` (a series of this module's own: it is written in place) with the
    `replacements` made, in order, in the rows holding a match of `needle`."""
    held = values.str.contains(needle).fill_null(False)
    if not held.any():
        return values
    rewritten = values.filter(held)
    for pattern, replacement in replacements:
        rewritten = rewritten.str.replace_all(pattern, replacement)
    return values.scatter(row_positions(held), rewritten)


def joined_after_candidates(text: pl.Expr, rule: PatternRule) -> pl.Expr:
    """`text` with a joiner after every candidate's trail (see Entity.joins_after_candidates)."""
    return text.str.replace_all(rule.regex, f"{LEAD}{VALUE}{TRAIL}{JOINER}")
