"""A pattern rule's rewrite that leaves the row's own name alone (a GDPR package keeps
the subject's own name in its texts)."""

from __future__ import annotations

from typing import Final

import polars as pl

from sluice.server.pipeline.redaction.policy import PatternRule
from sluice.server.pipeline.redaction.text import rewrite_text

#: Put after a name's first letter to hide it from PERSON_NAME ("A<ETX>na"): ETX is no
#: lower-case letter, so the token no longer reads as a name; removed again after.
_HIDDEN: Final = "\x03"
#: Tokens of each own-name value hidden: "Ana María Lopez Garcia" has four.
_OWN_TOKENS: Final = 4


def rewrite_text_keeping(text: pl.Expr, rule: PatternRule, own_names: list[pl.Expr]) -> pl.Expr:
    """`rewrite_text`, leaving alone every whole-word occurrence of a token of the row's
    `own_names` values (the subject's own name in a GDPR package): each is hidden before
    the rule runs and restored after it. A token inside a longer word is not the name
    ("Al" in "Alice"): that word stays visible to the rule. A value that already holds
    one of the control characters used here keeps nothing (over-redaction is the safe
    failure)."""
    tokens = [
        name.str.split(" ").list.get(i, null_on_oob=True)
        for name in own_names
        for i in range(_OWN_TOKENS)
    ]
    hidden = text
    for token in tokens:
        hidden = _hidden_words(hidden, token)
    hidden = pl.when(text.str.contains(_MARKERS)).then(text).otherwise(hidden)
    redacted = rewrite_text(hidden, rule)
    for token in reversed(tokens):
        redacted = _replaced(redacted, _hidden(token), token)
    return redacted


#: Around a hidden token while it is checked for being a whole word.
_WORD_OPEN: Final = "\x04"
_WORD_CLOSE: Final = "\x05"
_MARKERS: Final = f"[{_HIDDEN}{_WORD_OPEN}{_WORD_CLOSE}]"
#: A hidden token with a word character (or a hidden one's ETX) right before or after it
#: is part of a longer word: unhidden again.
_WORD_CHAR: Final = f"[\\w{_HIDDEN}]"
_PART_AFTER: Final = f"(?s)({_WORD_CHAR}){_WORD_OPEN}(.){_HIDDEN}([^{_WORD_CLOSE}]*){_WORD_CLOSE}"
_PART_BEFORE: Final = f"(?s){_WORD_OPEN}(.){_HIDDEN}([^{_WORD_CLOSE}]*){_WORD_CLOSE}({_WORD_CHAR})"


def _hidden_words(text: pl.Expr, token: pl.Expr) -> pl.Expr:
    """`text` with the whole-word occurrences of `token` hidden (`_hidden`). Polars has no
    per-row pattern: every occurrence is hidden and marked, then those inside a longer word
    are unhidden by fixed patterns, and the marks removed."""
    marked = _replaced(
        text,
        token,
        pl.concat_str(pl.lit(_WORD_OPEN), _hidden(token), pl.lit(_WORD_CLOSE)),
    )
    marked = marked.str.replace_all(_PART_AFTER, "${1}${2}${3}")
    marked = marked.str.replace_all(_PART_BEFORE, "${1}${2}${3}")
    return marked.str.replace_all(f"[{_WORD_OPEN}{_WORD_CLOSE}]", "")


def _hidden(token: pl.Expr) -> pl.Expr:
    return pl.concat_str(token.str.slice(0, 1), pl.lit(_HIDDEN), token.str.slice(1))


def _replaced(text: pl.Expr, old: pl.Expr, new: pl.Expr) -> pl.Expr:
    """Every `old` in `text` (per row, literally) as `new`; tokens of one letter or none
    are left (they are initials, and hiding them would hide every capital).

    `text` is used once: a `when(...).then(f(text)).otherwise(text)` here doubled the
    expression at every token, and the tokens nest (hidden one after another, restored
    one after another), so two name columns of four tokens each made 2^16 copies of the
    rule's rewrite, which Polars expands when it plans them: planning a GDPR package of
    a table with two name columns and one more text column took the daemon's memory
    until it was killed. A row whose token is unusable splits and joins on the same
    separator instead, which gives its text back as it was."""
    usable = (old.str.len_chars() >= 2).fill_null(False)
    return text.str.split(pl.when(usable).then(old).otherwise(pl.lit(_UNCHANGED))).list.join(
        pl.when(usable).then(new).otherwise(pl.lit(_UNCHANGED))
    )


#: What a row with an unusable token splits and joins its text on: joined on what it was
#: split on, a text is what it was, whatever it holds (any non-empty separator would do).
_UNCHANGED: Final = _HIDDEN
