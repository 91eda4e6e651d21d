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


#: The whitespace taken off around an e-mail subject's id and its column's values, the
#: same everywhere (Python, Polars, SQLite, DuckDB, PostgreSQL): ASCII only, as each
#: engine's own trim or strip takes off a different set (spaces alone, or every Unicode
#: space), so a pushed-down filter and the pipeline's kept different rows.
ASCII_SPACES: Final = " \t\n\r\v\f"
#: ASCII_SPACES as an SQL expression: SQLite spells a character char(N), DuckDB and
#: PostgreSQL chr(N) (PostgreSQL's E'' strings have no \v).
_SQL_SPACES: Final = {
    "sqlite": f"char({', '.join(str(ord(c)) for c in ASCII_SPACES)})",
    "other": " || ".join(f"chr({ord(c)})" for c in ASCII_SPACES),
}


def ascii_strip(text: str) -> str:
    return text.strip(ASCII_SPACES)


def ascii_strip_expr(text: pl.Expr) -> pl.Expr:
    """`text` (String values) without ASCII_SPACES around them."""
    return text.str.strip_chars(ASCII_SPACES)


def ascii_strip_sql(column: str, dialect: str) -> str:
    """SQL for `column`'s text without ASCII_SPACES around it; `dialect` "sqlite",
    "duckdb" or "postgres"."""
    spaces = _SQL_SPACES["sqlite" if dialect == "sqlite" else "other"]
    return f"trim({column}, {spaces})" if dialect != "postgres" else f"btrim({column}, {spaces})"


def ascii_lower(text: str) -> str:
    return text.translate(_LOWER)


def ascii_lower_expr(text: pl.Expr) -> pl.Expr:
    """`text` (String values) with ASCII letters in lower case."""
    return text.str.replace_many(list(string.ascii_uppercase), list(string.ascii_lowercase))
