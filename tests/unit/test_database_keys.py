"""Resume keys of database sources, checked against a real SQLite: the rows a resumed
read selects after any row's key are exactly the rows the ORDER BY puts after it, for
every storage class SQLite keeps in one column (NULL, integer, real, text, blob)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import polars as pl
import pytest

from sluice.server.pipeline.database_keys import (
    SQLITE_ROWID,
    after_key_term,
    decode_sqlite_key,
    encode_sqlite_key,
    encode_sqlite_keys,
    resume_columns,
    sqlite_after_nulls_term,
    sqlite_key_column,
    stored_value,
)

#: Values of every storage class, in a NUMERIC-affinity column (a TIMESTAMP or
#: DECIMAL declares one): text in two spellings of one time, numbers as int and real.
MIXED: list[object] = [
    None,
    3,
    2.5,
    -7,
    1e300,
    0.1 + 0.2,
    "2024-01-01 10:00:00",
    "2024-01-01T10:00:00",
    "2024-01-01 10:00:00.5+02:00",
    "Zeta",
    "alpha",
    b"\x00\xff",
    b"",
]


@pytest.mark.parametrize(
    "value", [*MIXED, 2**63 - 1, -(2**63), float("inf"), "t:tagged", "", "é\n'\""]
)
def test_a_stored_value_encodes_to_text_and_back_exactly(value: object) -> None:
    encoded = encode_sqlite_key(value)
    assert isinstance(encoded, str)
    back = decode_sqlite_key(encoded)
    assert type(back) is type(value) and back == value


@pytest.mark.parametrize(
    "values",
    [
        ["b", None, "a", ""],
        [1, None, -(2**63), 2**63 - 1],
        [0.1 + 0.2, None, 1e-7, 1e300, -0.0],
        MIXED,
        [None, None],
        [],
    ],
)
def test_a_batch_of_stored_values_encodes_as_each_value_does(values: list[object]) -> None:
    """One storage class per column is encoded by Polars in one pass: the same text."""
    encoded = encode_sqlite_keys("k", values)
    assert encoded.dtype == pl.String and encoded.name == "k"
    assert encoded.to_list() == [encode_sqlite_key(v) for v in values]


@pytest.mark.parametrize("text", ["", "x", "q:1", "i:", "n:x", "b:zz", 5])
def test_text_that_is_no_encoded_key_is_refused(text: object) -> None:
    with pytest.raises(ValueError):
        decode_sqlite_key(text)


def _ordered(con: sqlite3.Connection, order_by: Sequence[str]) -> list[tuple[object, ...]]:
    keys = ", ".join(order_by)
    return con.execute(f"SELECT {keys} FROM t ORDER BY {keys}").fetchall()


def _after(
    con: sqlite3.Connection, order_by: Sequence[str], key: Sequence[object]
) -> list[tuple[object, ...]]:
    keys = ", ".join(order_by)
    if any(value is None for value in key):
        term, params = sqlite_after_nulls_term(order_by, key)
    else:
        term, params = after_key_term(order_by, ["?"] * len(order_by)), list(key)
    sql = f"SELECT {keys} FROM t WHERE {term} ORDER BY {keys}"
    return con.execute(sql, params).fetchall()


def test_the_rows_after_any_key_of_one_mixed_column_are_those_the_order_puts_after() -> None:
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t (k TIMESTAMP, n INTEGER)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(v, i) for i, v in enumerate(MIXED)])
    rows = _ordered(con, ["k"])
    for index, (stored,) in enumerate(rows):
        journalled = decode_sqlite_key(encode_sqlite_key(stored))
        assert _after(con, ["k"], [journalled]) == rows[index + 1 :], stored


def test_the_rows_after_any_key_of_two_columns_with_nulls_are_those_the_order_puts_after() -> None:
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t (a DECIMAL(10, 2), b TEXT COLLATE NOCASE)")
    firsts: list[object] = [None, 1, 1.5, "x"]
    seconds: list[object] = [None, "a", "B", "c", 5]
    con.executemany("INSERT INTO t VALUES (?, ?)", [(a, b) for a in firsts for b in seconds])
    rows = _ordered(con, ["a", "b"])
    assert len(set(rows)) == len(rows) == len(firsts) * len(seconds)
    for index, key in enumerate(rows):
        journalled = [decode_sqlite_key(encode_sqlite_key(v)) for v in key]
        assert _after(con, ["a", "b"], journalled) == rows[index + 1 :], key


def test_sqlite_keys_not_read_as_stored_are_carried_hidden() -> None:
    schema = pl.Schema(
        {
            "id": pl.Int64(),
            "name": pl.String(),
            "at": pl.Datetime("us"),
            "day": pl.Date(),
            "price": pl.Decimal(10, 2),
            "ratio": pl.Float64(),
        }
    )
    assert resume_columns("sqlite", ["id", "name"], schema) == ("id", "name")
    assert resume_columns("sqlite", ["at", "id", "price", "day", "ratio"], schema) == (
        sqlite_key_column(0),
        "id",
        sqlite_key_column(2),
        sqlite_key_column(3),
        sqlite_key_column(4),
    )
    assert resume_columns("sqlite", [SQLITE_ROWID], schema) == (sqlite_key_column(0),)
    # DuckDB casts the journalled text back to the column's type: its own columns.
    assert resume_columns("duckdb", ["at", "price", "day"], schema) == ("at", "price", "day")
    assert resume_columns("duckdb", ["ratio"], schema) == ()
    nanos = pl.Schema({"at": pl.Datetime("ns")})
    assert resume_columns("duckdb", ["at"], nanos) == ()


def test_a_rowid_is_journalled_as_the_integer_it_is() -> None:
    assert stored_value(SQLITE_ROWID, 7) == 7
    assert stored_value("at", "t:2024-01-01 10:00") == "2024-01-01 10:00"
    for journalled in ("i:7", True, 7.0):
        with pytest.raises(ValueError):
            stored_value(SQLITE_ROWID, journalled)


def test_rows_after_a_key_include_the_null_keys_that_sort_last() -> None:
    """PostgreSQL and DuckDB sort NULL keys last: the rows after a key are exactly the
    rows ORDER BY puts after it, NULL-keyed ones included (a row comparison would leave
    them out of a resumed read). Checked against DuckDB's own ORDER BY."""
    import duckdb

    from sluice.server.pipeline.database_keys import nulls_last_after_term

    con = duckdb.connect()
    con.execute("CREATE TABLE t (k1 INTEGER, k2 INTEGER, id INTEGER)")
    values = [1, 2, None]
    rows = [(a, b, n) for n, (a, b) in enumerate((a, b) for a in values for b in values)]
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    ordered = [r[0] for r in con.execute("SELECT id FROM t ORDER BY k1, k2").fetchall()]
    by_id = {n: (a, b) for a, b, n in rows}
    for keys in (["k1"], ["k1", "k2"]):
        for position, row_id in enumerate(ordered):
            after = [by_id[row_id][i] for i in range(len(keys))]
            if any(v is None for v in after):
                continue  # a NULL last key is refused before any SQL is built
            term, params = nulls_last_after_term(keys, ["?"] * len(keys), after)
            found = {r[0] for r in con.execute(f"SELECT id FROM t WHERE {term}", params).fetchall()}
            later = {
                n
                for n in ordered[position + 1 :]
                if len(keys) == 2 or by_id[n][0] != by_id[row_id][0]
            }
            assert found == later, (keys, after)
