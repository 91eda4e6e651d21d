"""The parts of a request's `where` a PostgreSQL source can evaluate exactly as the
pipeline does, so that an export of one user's rows reads one user's rows.

Only top-level AND terms of the form `column OP literal` are taken, and only where
PostgreSQL and Polars agree on the answer whatever the data: integer and decimal
columns with a number (any comparison), text columns with a quoted string (= only: a
column's collation or type decides what the database calls equal; a case-insensitive
collation or char(n)'s padding makes `=` let more rows through, which the pipeline
then drops, but makes `<>` leave out rows the pipeline keeps). Every other term stays
with the pipeline alone; the pipeline still evaluates the whole `where`, so pushing a
subset of the AND terms only reads fewer rows, never changes the result. A `where` with
a comment (`--`, `/*`) pushes nothing: the pipeline reads the rest of the line as the
comment, while the AND terms here would run on. Values go to the database as
parameters, never as SQL text.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

import polars as pl

_IDENTIFIER = r'"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_]*'
_NUMBER = r"-?\d+(?:\.\d+)?"
_STRING = r"'(?:[^']|'')*'"
_TERM = re.compile(
    rf"^\s*({_IDENTIFIER})\s*(==|=|<>|!=|<=|>=|<|>)\s*({_NUMBER}|{_STRING})\s*$", re.DOTALL
)
_TOKENS = re.compile(rf"{_STRING}|{_IDENTIFIER}|--|/\*|\s+|.", re.DOTALL)
_OPERATORS = {"==": "=", "!=": "<>"}


def pushable_terms(
    where: str, schema: pl.Schema, text_columns: frozenset[str] = frozenset()
) -> tuple[tuple[str, str, Any], ...]:
    """(column, operator, value) for each AND term of `where` that can be pushed down;
    `text_columns` are read as text by the source (uuid...) and are left alone."""
    terms = []
    for part in _and_terms(where):
        match = _TERM.fullmatch(part)
        if match is None:
            continue
        quoted, operator, literal = match.groups()
        column = quoted[1:-1].replace('""', '"') if quoted.startswith('"') else quoted
        if column not in schema or column in text_columns:
            continue
        operator = _OPERATORS.get(operator, operator)
        value = _value(schema[column], operator, literal)
        if value is not None:
            terms.append((column, operator, value))
    return tuple(terms)


def _and_terms(where: str) -> list[str]:
    """The top-level AND terms (none when there are parentheses or an OR anywhere)."""
    parts: list[str] = []
    current: list[str] = []
    for token in _TOKENS.findall(where):
        upper = token.upper()
        if upper in ("(", ")", "OR", "NOT", ";", "--", "/*", "/"):
            return []
        if upper == "AND":
            parts.append("".join(current))
            current = []
        else:
            current.append(token)
    parts.append("".join(current))
    return parts


def _value(dtype: pl.DataType, operator: str, literal: str) -> Any:
    if literal.startswith("'"):
        if dtype == pl.String and operator == "=":
            return literal[1:-1].replace("''", "'")
        return None
    if dtype.is_integer() and re.fullmatch(r"-?\d+", literal):
        return int(literal)
    if isinstance(dtype, pl.Decimal):
        try:
            return Decimal(literal)
        except InvalidOperation:
            return None
    return None
