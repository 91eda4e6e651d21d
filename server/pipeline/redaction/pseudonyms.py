"""The pseudonym a hash rule writes in place of a match inside text (`[EMAIL:52ecd780…]`),
sealed while the text pass runs so that no later rule reads it as text of its own.

Pseudonyms are stable so that hashed exports stay joinable, but the pattern rules run one
after another over the same text, and a later one could read an earlier one's
pseudonym: the keyword rule took `[AWS_SECRET_KEY:…]` (or `[GITHUB_TOKEN:…]`,
`[URL_PASSWORD:…]`) for a secret's name, a ':' and a value, and a card rule masked the
digits of a digest that happened to end in a card number. Which rows a rule runs on is
decided on the original text (compaction.py), so a pseudonym was only re-read in rows
holding a candidate of the later rule anyway, and no pattern can tell our pseudonym from
the same characters in the source. So while the pass runs, the pseudonym is written as
`[LABEL<SUB>digest_]`: no ':' after the label (no assignment to read), and an ASCII word
character after the digest, beside which no digit-run entity may end (their trails
need a non-word character). After every text rule has run, the seal becomes the
pseudonym's own form again (`unsealed`).
"""

from __future__ import annotations

from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.actions import TEXT_PSEUDONYM_HEX
from sluice.server.pipeline.redaction.compaction import row_positions

#: Between the label and the digest while the pass runs (SUB: no pattern's assignment,
#: and neither Python's nor Rust's `\s`).
SEAL: Final = "\x1a"
_SEAL_END: Final = "_"
_SEALED: Final = rf"\[([A-Z][A-Z0-9_]*){SEAL}([0-9a-f]{{{TEXT_PSEUDONYM_HEX}}}){_SEAL_END}\]"


def sealed_pseudonym(label: str, digest: pl.Expr) -> pl.Expr:
    """The pseudonym of a match as written during the text pass."""
    return pl.concat_str(pl.lit(f"[{label}{SEAL}"), digest, pl.lit(f"{_SEAL_END}]"))


def unsealed(text: pl.Expr) -> pl.Expr:
    """`text` with every sealed pseudonym in its own form (`[LABEL:digest]`)."""
    return text.map_batches(_unsealed, return_dtype=pl.String, is_elementwise=True)


def _unsealed(values: pl.Series) -> pl.Series:
    # Only values holding the seal are rewritten: a byte search over every text value
    # costs a fraction of the regex replace, which copies every value.
    held = values.str.contains(SEAL, literal=True).fill_null(False)
    if not held.any():
        return values
    rewritten = values.filter(held).str.replace_all(_SEALED, "[$1:$2]")
    # `scatter` writes in place: into a copy, never the caller's values.
    return values.clone().scatter(row_positions(held), rewritten)
