"""ASCII letters in lower case, the rest as it is: how ids are matched in either case
(QuerySpec.ids_ignore_case). Only ASCII, on both sides of every comparison: SQLite's
lower() folds those alone, so an id filter pushed down to it keeps exactly the rows the
pipeline's does; PostgreSQL's is told to (the "C" collation), and DuckDB's lower(), which
folds every letter, keeps more, never fewer (the pipeline filters them again). An
e-mail address's domain is ASCII (or punycode) in any case; a letter outside ASCII
(`Ä`, a full-width letter) is another address's."""

from __future__ import annotations

import string
from typing import Final

import polars as pl

_LOWER: Final = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def ascii_lower(text: str) -> str:
    return text.translate(_LOWER)


def ascii_lower_expr(text: pl.Expr) -> pl.Expr:
    """`text` (String values) with ASCII letters in lower case."""
    return text.str.replace_many(list(string.ascii_uppercase), list(string.ascii_lowercase))
