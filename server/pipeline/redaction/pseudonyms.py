"""The pseudonym a hash rule writes in place of a match inside text (`[EMAIL:52ecd780…]`),
sealed while the text pass runs so that no later entity reads it as text of its own.

Pseudonyms are stable so that hashed exports stay joinable, but the pattern rules run one
after another over the same text, and a later one could read an earlier one's
pseudonym: the keyword rule took `[AWS_SECRET_KEY:…]` (or `[GITHUB_TOKEN:…]`,
`[URL_PASSWORD:…]`) for a secret's name, a ':' and a value, and a card rule masked the
digits of a digest that happened to end in a card number. Which rows a rule runs on is
decided on the original text (compaction.py), so a pseudonym was only re-read in rows
holding a candidate of the later rule anyway, and no pattern can tell our pseudonym from
the same characters in the source. So while the pass runs, the pseudonym is written as
`[LABEL<SUB>digest_<SUB>]`: no ':' after the label (no assignment to read), and an ASCII
word character after the digest, beside which no digit-run entity may end (their
trails need a non-word character). After every text rule has run, the seal becomes the
pseudonym's own form again (`unsealed`); a hash rule no other text step follows writes
that form at once (PatternRule.sealed). A custom pattern may still read the digest (any
16 hex digits), in every row one was written to (compaction's `reads_written`): what it
looks for is its author's choice. Source text holding these
control characters in this order beside a pseudonym would be changed the same way: a SUB
character is not text.

A mask of a secret is sealed the same way (`[<SUB><SUB>****abcd_<SUB><SUB>]`): the keyword
rule reads any value after a secret's name, so it took a masked token after `token: ` for
a secret and wrote its tag over the mask. Unsealed, the seal is gone and the mask stays.
"""

from __future__ import annotations

from functools import partial
from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.compaction import row_positions

#: Between the label and the digest while the pass runs (SUB: no pattern's assignment,
#: and neither Python's nor Rust's `\s`).
SEAL: Final = "\x1a"
#: After the digest: "_", an ASCII word character beside which no digit run ends.
_SEALED_END: Final = f"_{SEAL}]"


#: Around a mask while the pass runs: "[" first (no rule's value starts with one: it
#: starts tags and pseudonyms), "_" last (as after a sealed pseudonym's digest), and two
#: SUBs on each side, so that neither holds a sealed pseudonym's start or end.
_MASK_START: Final = f"[{SEAL}{SEAL}"
_MASK_END: Final = f"_{SEAL}{SEAL}]"
#: Where any seal starts (a pseudonym's `[LABEL` or a mask's `[`, then a SUB), as a regex.
SEAL_START: Final = rf"\[[A-Z0-9_]*{SEAL}"
#: A seal inside a later rule's match, as a regex: a whole one; or, for a match starting
#: inside a seal, the seal's end at the match's start (a match starting in plain text
#: holds no seal's end without its start); or, for a match ending inside a seal, its
#: start to the match's end. A seal's end is "_" and SUBs before its "]" (or its SUBs
#: alone): plain text before a seal whose mask starts with "]" (`abc[<SUB><SUB>]…`) has
#: no "_" before the SUBs, so it is not read as the end of one. The start runs to the
#: match's end over line breaks too (a mask of a value on several lines holds them).
SEAL_IN_MATCH: Final = (
    rf"{SEAL_START}{SEAL}*[^{SEAL}]*{SEAL}+\]"
    rf"|^[A-Z0-9_]*{SEAL}*(?:[^{SEAL}]*_)?{SEAL}+\]"
    rf"|{SEAL_START}(?s:.)*$"
)


def sealed_pseudonym(label: str, digest: pl.Expr) -> pl.Expr:
    """The pseudonym of a match as written during the text pass."""
    return pl.concat_str(pl.lit(_sealed_start(label)), digest, pl.lit(_SEALED_END))


def sealed_mask(masked: pl.Expr) -> pl.Expr:
    """A mask as written during the text pass."""
    return pl.concat_str(pl.lit(_MASK_START), masked, pl.lit(_MASK_END))


def holds_sealed(text: pl.Expr, label: str, action: str = "hash") -> pl.Expr:
    """Whether `text` holds a sealed pseudonym of `label` (or, for a mask rule, a
    sealed mask)."""
    return text.str.contains(_seal_start(label, action), literal=True)


def unsealed(text: pl.Expr, label: str, action: str = "hash") -> pl.Expr:
    """`text` with every sealed pseudonym of `label` in its own form (`[LABEL:digest]`),
    or, for a mask rule, every sealed mask as the mask alone."""
    if action == "mask":
        return text.map_batches(_unsealed_masks, return_dtype=pl.String, is_elementwise=True)
    return text.map_batches(
        partial(_unsealed, label=label), return_dtype=pl.String, is_elementwise=True
    )


def _unsealed_masks(values: pl.Series) -> pl.Series:
    # As _unsealed: only the values holding a seal, two literal replaces. Masks of every
    # label share the seal: the first mask rule's unsealing opens all of them.
    held = values.str.contains(_MASK_START, literal=True).fill_null(False)
    if not held.any():
        return values
    rewritten = (
        values.filter(held)
        .str.replace_all(_MASK_START, "", literal=True)
        .str.replace_all(_MASK_END, "", literal=True)
    )
    # `scatter` writes in place: into a copy, never the caller's values.
    return values.clone().scatter(row_positions(held), rewritten)


def _seal_start(label: str, action: str) -> str:
    return _MASK_START if action == "mask" else _sealed_start(label)


def _unsealed(values: pl.Series, label: str) -> pl.Series:
    # Only values holding the label's seal are rewritten: a byte search costs a fraction
    # of a replace, which copies every value. Two literal replaces cost a third of one
    # regex replace with groups (all of a column of addresses hashed: 0.06 CPU s per
    # 1M values against 0.22). Seals of other labels in the same value lose their end
    # here: that is all their own unsealing does to it too.
    held = values.str.contains(_sealed_start(label), literal=True).fill_null(False)
    if not held.any():
        return values
    rewritten = (
        values.filter(held)
        .str.replace_all(_sealed_start(label), f"[{label}:", literal=True)
        .str.replace_all(_SEALED_END, "]", literal=True)
    )
    # `scatter` writes in place: into a copy, never the caller's values.
    return values.clone().scatter(row_positions(held), rewritten)


def _sealed_start(label: str) -> str:
    return f"[{label}{SEAL}"
