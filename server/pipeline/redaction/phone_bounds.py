"""Phone numbers side by side that the PHONE pattern does not part.

A number's trail takes the space and the character after it ("555-123-4567 +1 555 987
6543": " +"), so the next number has no lead left and loses its "+" or its "(555)" (it
stayed in clear); and a dotted number cannot end before a space and a digit
("555.123.4567 555.987.6543", "555 123 4567 3.5": the trail refuses what could
continue a run), so it was no candidate at all. `with_bounds` puts the joiner (the STX
of text_markers.py, removed after the rewrite) before the space at such a boundary: the
number before it then ends there (its trail), the one after it has its lead, and each reads
as it would alone.

A "+" and an area code in parentheses after a space never continue a number (the "("
of "+1 (555)" follows a country code), so a plain replace places those. A dot and a
space do continue one with a "+" ("+1 555.123 4567"): those boundaries count only
where the pattern itself does not match, so they are found as alternatives after the
pattern's own (`with_dotted_bounds`), in the scan that extracts the candidates anyway.

A trail takes a line break too (and a tab, or two spaces or more), and an area code or
a "/" right after a number: a joiner right after the number's last digit (before a line
break, a tab or two spaces), two before a glued "(" (the trail's and the lead's), and
one after each "/" of a chain of laid-out numbers give each number its own lead and
trail.
"""

from __future__ import annotations

import re
from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.packed_text import packed
from sluice.server.pipeline.redaction.phone_runs import JOINER

#: What Unicode reads as a line break: line feed, carriage return, vertical tab, form
#: feed, NEL, the line and paragraph separators.
_BREAKS: Final = r"\n\r\x0b\x0c\x85\u2028\u2029"
#: A line break (and the spaces around it) between two digits: no number goes on over
#: it, but a number's trail takes it ("\n", or "\r\n" and the next one's lead) and
#: the trail cannot end before a digit ("555-123-4567\n555-987-6543": the first
#: stayed in clear).
_LINE_BREAK: Final = rf"\s*[{_BREAKS}]\s*"
#: A tab, or a run of two spaces or more, between two digits (a TSV row, columns aligned
#: with spaces): as a line break, no number goes on over it (a number's separators are one
#: space, dash or dot), but the trail of the number before takes it, and cannot end before
#: a digit after a tab ("555-123-4567\t555-987-6543": the first stayed in clear) or takes
#: the spaces whole, the next number's lead with them ("555-123-4567  555-987-6543": the
#: second stayed in clear).
_WIDE_GAP: Final = r"[ \t]*\t[ \t]*| {2,}"
#: Either, between two digits: no number goes on over it.
_PARTING: Final = f"(?:{_LINE_BREAK}|{_WIDE_GAP})"
#: A necessary condition for `with_line_bounds` and `holds_slashed_chain` of bytes
#: that are rare in text: a line break, a tab or two spaces, or a "/" before a number's
#: start (a scan led by a digit reads every digit of the digit-heavy rows the PHONE gate
#: picks). Not scanned as one: it read every byte (0.062 CPU s per 1M text-heavy
#: messages, against 0.035 for a scan per alternative). The space-led alternative is
#: scanned apart (led by a space, it reads every byte); the line breaks, tabs and "/"
#: share a scan with the other rare bytes (phone_one_pass._joined_and_unusual), which
#: the regex engine looks for first.
BREAK_OR_TAB: Final = f"[{_BREAKS}\t]"
SPACES_BEFORE_DIGIT: Final = " {2,}[0-9]"
SLASH_BEFORE_NUMBER: Final = "/[0-9(+]"
LINE_OR_SLASH: Final = f"{BREAK_OR_TAB}|{SPACES_BEFORE_DIGIT}|{SLASH_BEFORE_NUMBER}"
#: Before a "+", and before a "(" after a number that is not a country code.
_SIGNED: Final = r"([0-9])(\s+\+)|((?:^|[^+0-9])[0-9]+)(\s+\()"
_SIGNED_JOINED: Final = f"${{1}}${{3}}{JOINER}${{2}}${{4}}"
#: Right after the digit before a line break: the number before it ends there, its
#: trail is the joiner, and the line break is the next one's lead. A pass of its own
#: after `_SIGNED`'s: as one of its alternatives it took the next line's first digit,
#: which an area code's alternative needs before a "(" ("12345678\n12345678\n(555)
#: 234-5678" left the last number in clear).
_LINE_PARTED: Final = rf"([0-9])({_PARTING}[0-9])"
_LINE_JOINED: Final = f"${{1}}{JOINER}${{2}}"
#: An area code right after a number ("(555) 123-4567(555) 987-6543"): no space for
#: the next number's lead, so two joiners, the first number's trail and the next one's
#: lead.
_GLUED_PAREN: Final = r"((?:^|[^+0-9])[0-9]+)(\([0-9])"
_GLUED_JOINED: Final = f"${{1}}{JOINER}{JOINER}${{2}}"
#: A necessary condition for `_GLUED_PAREN`.
_GLUED_SCAN: Final = r"[0-9]\([0-9]"
#: A necessary condition for `_GLUED_SCAN`, found faster.
_GLUED_AT: Final = r"[0-9]\("
#: Numbers of ten digits or more in a usual layout joined by "/"
#: ("555-123-4567/555-987-6543"): the first's trail takes the "/", which leads no
#: number (paths, dates, fractions), so the next stayed in clear. A joiner after each
#: "/" of such a chain gives the next its lead; a chain after a "/" or a word
#: character (a path's numbers) is left as it is. Read with Python's `re` (a joiner at
#: every "/" of a match needs its place), on the few rows `_SLASHED_SCAN` finds; the
#: layout is bounded, so a chain is read in linear time.
_LAID_OUT: Final = (
    r"(?:\+[0-9]{1,3}[ .-]?)?(?:\([0-9]{3}\)[ .-]?|[0-9]{3}[ .-])[0-9]{3}[ .-][0-9]{4}"
)
_SLASHED: Final = re.compile(rf"(?<![0-9A-Za-z_/]){_LAID_OUT}(?:/{_LAID_OUT})+")
#: `_SLASHED` for Polars (no look-behind: the character before is taken).
_SLASHED_CHAIN: Final = rf"(?:^|[^0-9A-Za-z_/]){_LAID_OUT}(?:/{_LAID_OUT})+"
#: A necessary condition for `_SLASHED`.
_SLASHED_SCAN: Final = r"[0-9]{4}/[0-9(+]"
#: A necessary condition for `_SIGNED` that the regex engine finds from the rare "+"
#: and "(" (`_SIGNED` itself is read at every character: 5x the cost).
_SIGNED_SCAN: Final = r"[0-9]\s+[+(]"
#: After a dotted number or a decimal, and before one.
_DOTTED: Final = r"\.[0-9]+\s+[0-9]|[0-9]\s+[0-9]+\.[0-9]"
#: Each of `_DOTTED`'s alternatives scans fast on its own, but not both as one.
_DOTTED_SCANS: Final = (r"\.[0-9]+\s+[0-9]", r"[0-9]\s+[0-9]+\.[0-9]")
_DOTTED_WHOLE: Final = re.compile(_DOTTED)
_SPACE: Final = re.compile(r"\s")
#: A candidate that is a dotted boundary, or whose trail took the "+" or the "(" the
#: next number starts with, or the "/" before it.
_AT_BOUND: Final = rf"[+(/]$|^(?:{_DOTTED})$"
#: Confirms a "(" after a number: most are words in parentheses ("(evenings only)"). The
#: next number may open with "((" or "(+" too ("((703) 836-8686)", "(+1 703 …)").
_AREA_CODE_AFTER: Final = r"[0-9]\s*\([0-9(+]"
#: Confirms a line break, a tab or two spaces: most have no digit before and after them.
_DIGITS_PARTED: Final = rf"[0-9]{_PARTING}[0-9]"


def with_dotted_bounds(regex: str) -> str:
    """The PHONE pattern `regex`, also matching the dotted boundaries. At each place the
    pattern's own match is preferred, so a text in which none of those is found yields
    the very matches the pattern alone does."""
    return f"{regex}|{_DOTTED}"


def is_dotted_bound(candidates: pl.Expr) -> pl.Expr:
    """Whether a match of `with_dotted_bounds` is a dotted boundary (a match of the
    pattern itself never is: its value holds a dot only in a dotted layout, without a
    space, or after a "+" or "(", which such a boundary does not start with)."""
    return candidates.str.contains(f"^(?:{_DOTTED})$")


def is_at_bound(candidates: pl.Series) -> pl.Series:
    """Per candidate (a match of `with_dotted_bounds`): whether it is a dotted boundary,
    or its trail took the "+", the "(" or the "/" another number may start with."""
    return candidates.str.contains(_AT_BOUND).fill_null(False)


def rows_at_bounds(
    candidates: pl.Series, rows: pl.Series, texts: pl.Series, at_bound: pl.Series
) -> pl.Series:
    """The rows (numbers in `rows`, one per candidate, of `texts`) that hold a boundary
    `with_bounds` places, read from their candidates (extracted with
    `with_dotted_bounds`; `at_bound` is `is_at_bound` of them) rather than by a scan of
    the rows, which costs as much as checking the candidates. Line breaks are not among
    them: the one-pass rewrite puts their joiners in before it extracts the candidates
    (`with_line_bounds`)."""
    if not at_bound.any():
        return rows.clear()
    few, where = candidates.filter(at_bound), rows.filter(at_bound)
    paren = few.str.ends_with("(")
    if paren.any():
        # Copied together (packed_text.py): the scan reads the rows where they lie.
        confirmed = packed(texts.gather(where.filter(paren))).str.contains(_AREA_CODE_AFTER)
        # `~paren` is a new series: `scatter` may write into it.
        kept = (~paren).scatter(paren.arg_true(), confirmed.fill_null(False))
        where = where.filter(kept)
    return where


def with_line_bounds(texts: pl.Series) -> pl.Series:
    """`texts` with a joiner after each digit before a line break, a tab or two spaces a
    digit follows: the number before it then ends there, and the one after has its lead.
    Only the rows holding one are rewritten; `texts` itself comes back when none does."""
    return _replaced(texts, _DIGITS_PARTED, _LINE_PARTED, _LINE_JOINED)


def holds_slashed_chain(texts: pl.Series) -> pl.Series:
    """Per row: whether it holds numbers joined by "/" (`with_signed_bounds` parts them).
    The first number of a chain gives it away as a candidate whose trail took the "/"
    (`rows_at_bounds`), unless it is no candidate at all ("-555-123-4567/555-987-6543":
    a "-" leads no number): this finds those too."""
    maybe = texts.str.contains(_SLASHED_SCAN).fill_null(False)
    if not maybe.any():
        return maybe
    found = texts.filter(maybe).str.contains(_SLASHED_CHAIN).fill_null(False)
    # `maybe` is this function's own: `scatter` may write into it.
    return maybe.scatter(maybe.arg_true(), found)


def holds_glued_area_code(texts: pl.Series) -> pl.Series:
    """Per row: whether it holds an area code's "(" right after a digit
    ("2/1/1992(951) 558-7279"), which `with_signed_bounds` parts and the one-pass
    rewrite's candidates do not show. A "(" after a digit is looked for first, and the
    digit after it only in the few rows holding one: over the 264,608 rows the PHONE
    gate picks of 1M text-heavy messages (42.7 MB) the first scan takes 0.020 CPU s,
    `_GLUED_SCAN` alone 0.074 (its last digit costs the regex engine its fast search)."""
    glued = texts.str.contains(_GLUED_AT).fill_null(False)
    if not glued.any():
        return glued
    precise = texts.filter(glued).str.contains(_GLUED_SCAN).fill_null(False)
    # `glued` is this function's own: `scatter` may write into it.
    return glued.scatter(glued.arg_true(), precise)


def holds_lines_beyond_ascii(texts: pl.Series) -> pl.Series:
    """Per row: whether it holds a digit, a line break (or a tab, or two spaces) and a
    digit, and a character beyond ASCII. The layouts for numbers beyond ASCII
    (phone_other_forms.py) run before the one-pass rewrite's line joiners: such rows
    took the fenced rewrite before those joiners were put in there, which tagged numbers
    the one-pass rewrite leaves in clear (a full-width number after "412 Main
    Street\n", before a tab and a number with no-break spaces, in an address block)."""
    beyond = texts.str.len_bytes() != texts.str.len_chars()
    return (beyond & texts.str.contains(_DIGITS_PARTED)).fill_null(False)


def with_signed_bounds(texts: pl.Series) -> pl.Series:
    """`texts` with a joiner before a space followed by a "+", or by a "(" after a
    number (not a country code), and after a "/" between two numbers. Few rows hold
    one: only those are rewritten."""
    signed = _replaced(texts, _SIGNED_SCAN, _SIGNED, _SIGNED_JOINED)
    lined = with_line_bounds(signed)
    glued = _replaced(lined, _GLUED_SCAN, _GLUED_PAREN, _GLUED_JOINED)
    maybe = glued.str.contains(_SLASHED_SCAN).fill_null(False)
    if not maybe.any():
        return glued
    rows: list[str] = glued.filter(maybe).to_list()
    slashed = [_SLASHED.sub(_joined_slashes, row) for row in rows]
    # `scatter` writes in place: into a copy, never the caller's values.
    return glued.clone().scatter(maybe.arg_true(), pl.Series(slashed, dtype=pl.String))


def _joined_slashes(chain: re.Match[str]) -> str:
    return chain.group().replace("/", f"/{JOINER}")


def _replaced(texts: pl.Series, scan: str, pattern: str, replacement: str) -> pl.Series:
    """`texts` with `pattern` replaced, only in the rows `scan` finds."""
    maybe = texts.str.contains(scan).fill_null(False)
    if not maybe.any():
        return texts
    joined = texts.filter(maybe).str.replace_all(pattern, replacement)
    # `scatter` writes in place: into a copy, never the caller's values.
    return texts.clone().scatter(maybe.arg_true(), joined)


def with_bounds(texts: pl.Series, regex: str) -> pl.Series:
    """`texts` with a joiner before the space at every boundary (the PHONE pattern
    `regex` tells where a dotted one counts)."""
    signed = with_signed_bounds(texts)
    maybe = pl.repeat(False, len(signed), eager=True)
    for scan in _DOTTED_SCANS:
        maybe = maybe | signed.str.contains(scan).fill_null(False)
    if not maybe.any():
        return signed
    rows: list[str] = signed.filter(maybe).to_list()
    found: list[list[str]] = (
        signed.filter(maybe).str.extract_all(with_dotted_bounds(regex)).to_list()
    )
    joined = pl.Series([_joined(row, whole) for row, whole in zip(rows, found, strict=True)])
    # `scatter` writes in place: into a copy, never the caller's values.
    return signed.clone().scatter(maybe.arg_true(), joined.cast(pl.String))


def _joined(row: str, whole: list[str]) -> str:
    """`row` with a joiner before the space of each dotted boundary among its matches
    `whole` (in order, not overlapping; found from the end of the one before, as the
    scan that found them went on)."""
    out, last, position = [], 0, 0
    for text in whole:
        at = row.find(text, position)
        if at < 0:
            continue
        position = at + len(text)
        if _DOTTED_WHOLE.fullmatch(text):
            space = _SPACE.search(text)
            assert space is not None  # every dotted boundary holds one
            out.append(row[last : at + space.start()])
            out.append(JOINER)
            last = at + space.start()
    out.append(row[last:])
    return "".join(out)
