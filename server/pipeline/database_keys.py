"""Resuming a database source after its last journalled row, exactly: which values
a resumed run reads after, and the SQL that reads the rows after them.

A resumed export reads `WHERE (order columns) > (last row's values)` in a new snapshot,
never an OFFSET: rows inserted or deleted before the last key between the runs would
shift what an OFFSET skips. The comparison must be the one the ORDER BY sorted by, or
rows are skipped or repeated; resume_columns says what makes it so per database.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

#: What SQLite's ORDER BY uses for a table without a primary key (stable, unique).
SQLITE_ROWID = "_rowid_"
#: Hidden copies of SQLite order columns as SQLite stores and sorts them (see
#: resume_columns): "__sluice_sqlite_key_0", ...
SQLITE_KEY_PREFIX = "__sluice_sqlite_key_"


def resume_columns(kind: str, order_by: Sequence[str], schema: pl.Schema) -> tuple[str, ...]:
    """The columns whose values in the last exported row a resumed run reads after
    (`WHERE (order columns) > (those values)`), one per order column; () when no exact
    comparison exists (a resumed run then fails rather than skip by row position).

    The journalled key is JSON: a number or text (ISO-8601 for times, exact text for
    decimals). PostgreSQL and DuckDB cast that text back to the column's type exactly
    (DuckDB: typed parameters, see _duckdb_parameter), so their integer, text, time,
    date, timestamp (microseconds or coarser) and decimal columns are their own key.
    SQLite sorts what it stores, not the pipeline's type: a TIMESTAMP or DATE is text in
    any spelling ("T" or a space, with or without a zone), a DECIMAL a binary float or
    an integer, and a table without a primary key is ordered by its rowid, which is no
    column. Such order columns are carried as hidden copies of the stored value tagged
    with its storage class (encode_sqlite_key) and bound back as that very value, so
    `key > last` compares in SQLite's own terms (storage class, then value, under the
    column's affinity and collation), exactly as the ORDER BY sorted."""
    if kind == "sqlite":
        return tuple(
            column
            if column != SQLITE_ROWID and _sqlite_reads_as_stored(schema.get(column))
            else sqlite_key_column(position)
            for position, column in enumerate(order_by)
        )
    for column in order_by:
        dtype = schema.get(column)
        if dtype is None:
            return ()
        if dtype.is_integer() or dtype == pl.String:
            continue
        if isinstance(dtype, pl.Decimal | pl.Date | pl.Time):
            continue
        if isinstance(dtype, pl.Datetime) and dtype.time_unit != "ns":
            continue
        return ()
    return tuple(order_by)


def sqlite_key_column(position: int) -> str:
    """The hidden column holding order column `position` as SQLite stores it."""
    return f"{SQLITE_KEY_PREFIX}{position}"


def _sqlite_reads_as_stored(dtype: pl.DataType | None) -> bool:
    """Integer and text columns: a value of another storage class fails the read, so
    the value the pipeline holds is the one SQLite stored and sorted."""
    return dtype is not None and (dtype == pl.Int64 or dtype == pl.String)


def sqlite_key_type(order_column: str) -> pl.DataType:
    """The type of the hidden copy of `order_column`: a rowid is always an integer,
    read as it is; any other stored value is encoded text (encode_sqlite_key)."""
    return pl.Int64() if order_column == SQLITE_ROWID else pl.String()


def stored_value(order_column: str, journalled: object) -> object:
    """A journalled value of the hidden copy of `order_column`, as SQLite stored it;
    ValueError when it is not one this module wrote."""
    if order_column != SQLITE_ROWID:
        return decode_sqlite_key(journalled)
    if isinstance(journalled, bool) or not isinstance(journalled, int):
        raise ValueError("not a rowid")
    return journalled


def encode_sqlite_key(value: object) -> str:
    """A stored SQLite value as JSON-safe text that keeps its storage class:
    "n:" NULL, "i:7" INTEGER, "r:1.5" REAL (repr round-trips exactly), "t:..." TEXT,
    "b:<hex>" BLOB."""
    if value is None:
        return "n:"
    if isinstance(value, int):
        return f"i:{value}"
    if isinstance(value, float):
        return f"r:{value!r}"
    if isinstance(value, str):
        return f"t:{value}"
    if isinstance(value, bytes):
        return f"b:{value.hex()}"
    raise TypeError(f"not a SQLite value: {type(value).__name__}")


def encode_sqlite_keys(name: str, values: list[object]) -> pl.Series:
    """encode_sqlite_key of every value, as a String series. A column of one storage
    class (and NULLs), the usual case, is encoded by Polars in one pass: SQLite rows
    arrive as Python values, and a Python call per value would double the cost of
    reading a TIMESTAMP- or rowid-keyed table."""
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if kinds <= {str}:
        tagged = "t:" + pl.Series(name, values, dtype=pl.String)
    elif kinds == {int}:
        tagged = "i:" + pl.Series(name, values, dtype=pl.Int64).cast(pl.String)
    elif kinds == {float}:
        # repr, as encode_sqlite_key writes it: one spelling per value in every batch.
        texts = [None if v is None else repr(v) for v in values]
        tagged = "r:" + pl.Series(name, texts, dtype=pl.String)
    elif kinds == {int, float}:  # a DECIMAL: whole values are stored as integers
        texts = ["n:" if v is None else f"i:{v}" if type(v) is int else f"r:{v!r}" for v in values]
        return pl.Series(name, texts, dtype=pl.String)
    else:
        return pl.Series(name, list(map(encode_sqlite_key, values)), dtype=pl.String)
    return tagged.fill_null("n:").alias(name)


def decode_sqlite_key(text: object) -> object:
    """The stored SQLite value encode_sqlite_key wrote; ValueError when it is not one."""
    if not isinstance(text, str) or text[1:2] != ":":
        raise ValueError("not an encoded SQLite key")
    tag, body = text[0], text[2:]
    if tag == "n" and not body:
        return None
    if tag == "i":
        return int(body)
    if tag == "r":
        return float(body)
    if tag == "t":
        return body
    if tag == "b":
        return bytes.fromhex(body)
    raise ValueError("not an encoded SQLite key")


def sqlite_after_nulls_term(
    order_by: Sequence[str], after: Sequence[object]
) -> tuple[str, list[object]]:
    """The rows after a SQLite key that holds NULLs, in ORDER BY k1, k2, ... (NULLs
    first). A row value holding a NULL compares to NULL, so the order is spelled out:
    k1 after v1, or k1 IS v1 and k2 after v2, ...; after NULL is any value, after v is
    `k > v` (a NULL k is not)."""
    alternatives: list[str] = []
    params: list[object] = []
    for position, value in enumerate(after):
        same = [f"{key_sql(order_by[j])} IS ?" for j in range(position)]
        column = key_sql(order_by[position])
        later = f"{column} IS NOT NULL" if value is None else f"{column} > ?"
        alternatives.append("(" + " AND ".join([*same, later]) + ")")
        params.extend(after[:position])
        if value is not None:
            params.append(value)
    return "(" + " OR ".join(alternatives) + ")", params


def key_sql(column: str) -> str:
    return column if column == SQLITE_ROWID else quote_name(column)


def after_key_term(order_by: Sequence[str], placeholders: Sequence[str]) -> str:
    """`(k1, k2) > (?, ?)`: the rows after a key in ORDER BY k1, k2 (row comparison)."""
    columns = ", ".join(key_sql(c) for c in order_by)
    return f"({columns}) > ({', '.join(placeholders)})"


def nulls_last_after_term(
    columns: Sequence[str], placeholders: Sequence[str], after: Sequence[object]
) -> tuple[str, list[object]]:
    """The rows after a key of non-NULL values in ORDER BY k1, k2, ... ascending with
    NULLs last (PostgreSQL's and DuckDB's default), rows with NULL keys included: a
    row value comparison `(k1, k2) > (v1, v2)` is NULL for them, which would leave the
    NULL-keyed tail out of a resumed read. Spelled out: k1 > v1 or k1 IS NULL, or k1 =
    v1 and (k2 > v2 or k2 IS NULL), ... `columns` are the keys as SQL, `placeholders`
    one per key."""
    alternatives: list[str] = []
    params: list[object] = []
    for position in range(len(columns)):
        same = [f"{columns[j]} = {placeholders[j]}" for j in range(position)]
        column = columns[position]
        later = f"({column} > {placeholders[position]} OR {column} IS NULL)"
        alternatives.append("(" + " AND ".join([*same, later]) + ")")
        params.extend(after[: position + 1])
    return "(" + " OR ".join(alternatives) + ")", params


def duckdb_parameter(dtype: pl.DataType | None) -> str:
    """A placeholder cast to the key column's type: a journalled key is JSON (ISO text
    for times, exact text for decimals), and DuckDB compares a row of values only with a
    row of the same types (it casts a lone `column > ?` itself, not `(a, b) > (?, ?)`)."""
    if isinstance(dtype, pl.Datetime):
        return "CAST(? AS TIMESTAMPTZ)" if dtype.time_zone else "CAST(? AS TIMESTAMP)"
    if isinstance(dtype, pl.Decimal):
        return f"CAST(? AS DECIMAL({dtype.precision or 38}, {dtype.scale}))"
    if isinstance(dtype, pl.Date):
        return "CAST(? AS DATE)"
    if isinstance(dtype, pl.Time):
        return "CAST(? AS TIME)"
    return "?"


def quote_name(identifier: str) -> str:
    """A quoted SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'
