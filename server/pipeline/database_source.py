"""Database sources: SQLite and DuckDB files, read-only, in one snapshot, in key order.

A database source reads a table or one SELECT. Rows come in a deterministic order (the
table's primary key, SQLite's rowid, or the caller's order_by), so a row's position in
the result (ROW_INDEX) is the same in every run over unchanged data. A resumed export
reads the rows after the last journalled row's order key (`WHERE (keys) > (last keys)`,
in a new snapshot), so rows inserted or deleted before that key between the runs shift
nothing; see resume_columns for how each key is compared exactly.

Each run reads in one read transaction (SQLite: BEGIN then the SELECT holds one read
snapshot; DuckDB: BEGIN on a read_only connection), so rows committed while it runs are
all in or all out. Memory stays bounded: SQLite rows are fetched `batch_rows` at a time
(fetchmany), DuckDB hands over Arrow record batches of `batch_rows`.

SQLite is read with the standard library's sqlite3 (no extra dependency, no extension to
download): column types come from the declared types (INTEGER, REAL, TEXT, BLOB,
DECIMAL(p,s), TIMESTAMP, DATE, BOOLEAN, JSON...) and values are converted strictly, so a
value that does not fit its declared type fails naming the column, never quoting it,
or under on_bad_rows "skip" its row is left out and counted (sqlite_values)
(a DECIMAL(p,s) value is never rounded to fit, but for a float's last bits: 0.1+0.2 is
0.30). NUMERIC, DECIMAL and other types of numeric affinity without a precision are
Float64, as REAL, whatever the values (a type never depends on the data): an integer a
float would round (past 2^53) fails the read naming the column and the row.
DuckDB produces Arrow itself, with its own faithful types; the types whose Arrow form is
not their value (UHUGEINT, VARINT, TIMETZ, BIT) are refused at planning, and values
Arrow cannot hold (infinities, HUGEINTs of 39 digits) fail naming column and row
(database_values), or under on_bad_rows "skip" their rows are left out and counted.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import quote

import polars as pl

from sluice.server.errors import (
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    SluiceError,
    Unavailable,
    quoted,
)
from sluice.server.pipeline import postgres_reading, postgres_source
from sluice.server.pipeline.ascii_case import ascii_strip_sql
from sluice.server.pipeline.checked_databases import Verify, checked_database
from sluice.server.pipeline.database_bad_rows import DatabaseRows, skipped_at, without_flagged
from sluice.server.pipeline.database_keys import (
    SQLITE_KEY_PREFIX,
    SQLITE_ROWID,
    after_key_term,
    duckdb_parameter,
    key_sql,
    nulls_last_after_term,
    resume_columns,
    sqlite_after_nulls_term,
    sqlite_key_type,
    stored_value,
)
from sluice.server.pipeline.database_keys import quote_name as _quote
from sluice.server.pipeline.database_values import UnreadableValue, check_duckdb, duckdb_refusals
from sluice.server.pipeline.postgres_source import PostgresTarget
from sluice.server.pipeline.sqlite_values import sqlite_rows
from sluice.server.pipeline.statement_cancels import StatementCancels

_log = logging.getLogger(__name__)
DatabaseKind = Literal["sqlite", "duckdb", "postgresql"]
#: More ids than this are filtered by the pipeline alone (SQLite binds at most 32,766).
MAX_PUSHED_IDS = 10_000
_SELECT = re.compile(r"^\s*\(*\s*(select|with|values)\b", re.IGNORECASE)
_QUERY_VIEW = "sluice_source_query"


@dataclass(frozen=True)
class DatabaseRead:
    """What to read from a database file, as planned (no connection held)."""

    kind: DatabaseKind
    #: The database file, symlinks resolved, inside the allowed source roots.
    path: str
    #: Schema ("" for the default) and table name, or ("", "") for a query.
    table_schema: str = ""
    table: str = ""
    #: One read-only SELECT, or "".
    query: str = ""
    #: Columns (or SQLITE_ROWID) that order the rows.
    order_by: tuple[str, ...] = ()
    #: Whether the catalog proves no two rows share an order key (a primary key, a
    #: unique index). When not, the reader checks every key it reads instead (see
    #: reader.KeyOrderCheck): a tie would make a resumed run skip or repeat rows.
    unique_order: bool = False
    #: What to do when the order ties, after the reader's error (PostgreSQL: a table
    #: with inheritance children, Described.inheritance_hint), or "".
    order_hint: str = ""
    #: Pushed-down ids filter: the column and its values (typed), or none.
    id_column: str = ""
    ids: tuple[Any, ...] = ()
    #: The ids are text in ASCII lower case, matched in either case (ascii_case.py).
    ids_ignore_case: bool = False
    #: Pushed-down comparisons (column, operator, value): the time range and simple
    #: `where` terms (planning.where_pushdown; for SQLite and DuckDB, pushable_bounds).
    bounds: tuple[tuple[str, str, Any], ...] = ()
    #: Pushed-down incremental cursor bound, and whether late rows pass it (PostgreSQL).
    since: tuple[str, str, Any] | None = None
    or_late: bool = False
    #: PostgreSQL: the server, profile and column readings (path is the address).
    server: PostgresTarget | None = None
    #: The named source whose hidden location path is (SQLite, DuckDB: its errors name
    #: it, not the path); "" for none. PostgreSQL's is the server's (PostgresTarget).
    source_name: str = ""

    def describe(self) -> dict[str, Any]:
        """What the manifest records about what was read (never credentials)."""
        what: dict[str, Any] = {"order_by": self.order_by}
        if self.server is not None and self.server.snapshots:
            # The run that finished (a resumed export read its rest in a new snapshot).
            what["snapshot"] = self.server.snapshots[-1]
        if self.query:
            what["query"] = self.query
        else:
            what["table"] = f"{self.table_schema}.{self.table}" if self.table_schema else self.table
        return what


def plan_read(
    kind: DatabaseKind,
    path: str,
    table: str,
    query: str,
    order_by: Sequence[str],
    server: PostgresTarget | None = None,
    source_name: str = "",
) -> DatabaseRead:
    """Check the table or query against the database (read-only) and settle the order.
    `source_name`: the named source a file's path is the hidden location of."""
    table, query = table.strip(), query.strip().rstrip(";").rstrip()
    if bool(table) == bool(query):
        raise InvalidArgument(
            "spec.source.table", "a database source needs exactly one of table and query"
        )
    if query and not _SELECT.match(query):
        raise InvalidArgument("spec.source.query", "must be one SELECT (or WITH ... SELECT)")
    schema_name, _, name = table.rpartition(".")
    if server is not None:
        return _plan_postgres(server, schema_name, name, query, tuple(order_by))
    read = DatabaseRead(
        kind, path, schema_name, name, query, tuple(order_by), source_name=source_name
    )
    columns = list(read_schema(read))
    for column in order_by:
        if column not in columns:
            raise InvalidArgument("spec.source.order_by", f"unknown column {column[:64]!r}")
    if order_by:
        return read
    if query:
        raise FailedPrecondition(
            "spec.source.order_by is required with spec.source.query: the rows need a "
            "deterministic order (unique columns) so that a resumed export continues exactly"
        )
    key = _primary_key(read)
    if not key:
        raise FailedPrecondition(
            f"table {table[:128]!r} has no primary key: give spec.source.order_by "
            "(unique columns) so that a resumed export continues exactly"
        )
    return replace(read, order_by=key, unique_order=True)


def _plan_postgres(
    server: PostgresTarget, schema_name: str, name: str, query: str, order_by: tuple[str, ...]
) -> DatabaseRead:
    if query:
        postgres_source.check_query(query)
    described = postgres_source.describe(server, schema_name, name, query)
    columns, key = described.columns, described.key
    server = replace(server, columns=columns)
    read = DatabaseRead("postgresql", str(server.address), schema_name, name, query, order_by)
    read = replace(read, server=server)
    known = {c for c, _ in columns}
    for column in order_by:
        if column not in known:
            raise InvalidArgument("spec.source.order_by", f"unknown column {column[:64]!r}")
    if order_by and not query:
        if not described.proves_unique(order_by):
            raise FailedPrecondition(
                f"spec.source.order_by ({', '.join(c[:64] for c in order_by)}) is not unique "
                f"in table {name[:128]!r}: rows that share an order key would be skipped or "
                "repeated by a resumed export; order by the primary key or by columns of a "
                "unique index whose columns are NOT NULL" + described.inheritance_hint(order_by)
            )
        return replace(read, unique_order=True)
    if order_by:
        return read
    if query:
        raise FailedPrecondition(
            "spec.source.order_by is required with spec.source.query: the rows need a "
            "deterministic order (unique columns) so that a resumed export continues exactly"
        )
    if not key:
        raise FailedPrecondition(
            f"table {name[:128]!r} has no primary key: give spec.source.order_by "
            "(unique columns) so that a resumed export continues exactly"
        )
    return replace(
        read,
        order_by=key,
        unique_order=described.proves_unique(key),
        order_hint=described.inheritance_hint(key),
    )


def read_schema(read: DatabaseRead) -> pl.Schema:
    """The columns and types of the table or query (ROW_INDEX not included)."""
    if read.server is not None:
        return pl.Schema({name: reading.dtype for name, reading in read.server.columns})
    if read.kind == "sqlite":
        with _sqlite(read) as con:
            return _sqlite_schema(con, read)
    with _duckdb(read) as con:
        import duckdb

        try:
            result = con.sql(f"SELECT * FROM {_relation(read)} LIMIT 0")
        except duckdb.Error as exc:  # the parser's and binder's errors name the cause
            raise _what_failed(read, exc) from None
        _check_duckdb_types(read, result.columns, result.types)
        frame = pl.from_arrow(_arrow_batches(result, 1024).read_all())
        assert isinstance(frame, pl.DataFrame)
        return frame.schema


#: DuckDB types whose Arrow form Polars cannot take (it panics on UNION and on INTERVAL's
#: month-day-nano), at any depth of a STRUCT, LIST, ARRAY or MAP.
#: And types whose Arrow form is not their value: UHUGEINT (a decimal128, in which 2^127
#: and up turn negative), VARINT/BIGNUM (no Arrow form), TIMETZ (its offset dropped) and
#: BIT (DuckDB's internal bytes).
_UNREADABLE_DUCKDB_TYPES = frozenset(
    {"union", "interval", "uhugeint", "varint", "bignum", "time with time zone", "bit"}
)


def _check_duckdb_types(read: DatabaseRead, names: Sequence[str], types: Sequence[Any]) -> None:
    """Refuse, while planning, a column of a type the export cannot read, naming it and
    the part unread (before, the read panicked inside Polars: INTERNAL at CreateExport).
    Never the whole type: an ENUM's members, at any depth, are data."""
    for name, dtype in zip(names, types, strict=True):
        unreadable = _unreadable_part(dtype)
        if unreadable is not None:
            field = "spec.source.query" if read.query else "spec.source.table"
            raise InvalidArgument(
                field,
                f"column {quoted(name)} holds {unreadable}, which cannot be exported "
                "(at any depth); select it cast to a type that can (for example "
                "CAST(column AS VARCHAR)) in spec.source.query, or leave it out",
            )


def _unreadable_part(dtype: Any) -> str | None:
    if dtype.id in _UNREADABLE_DUCKDB_TYPES:
        return str(dtype.id).upper()
    if dtype.id in {"struct", "list", "array", "map"}:
        for _, child in dtype.children:
            if not isinstance(child, int):  # an ARRAY's size is a number
                found = _unreadable_part(child)
                if found is not None:
                    return found
    return None


def count_rows(read: DatabaseRead, cancels: StatementCancels | None = None) -> int:
    """Rows the export reads (ids filter included); for PostgreSQL the planner's
    estimate (see _pg_estimated_rows). A SQLite or DuckDB count runs the query in full,
    as long as the read itself may: `cancels.cancel_all()` interrupts it (Interrupted)."""
    if read.server is not None:
        return _pg_estimated_rows(read, read.server)
    cancels = cancels or StatementCancels()
    sql, params = _select(read, [], count=True)
    if read.kind == "sqlite":
        with _sqlite(read) as con, cancels.cancelling(con.interrupt):
            return int(con.execute(sql, params).fetchone()[0])
    with _duckdb(read) as con, cancels.cancelling(con.interrupt):
        row = con.execute(sql, params).fetchone()
        return int(row[0]) if row else 0


def read_frames(
    read: DatabaseRead,
    schema: pl.Schema,
    columns: Sequence[str],
    batch_rows: int,
    skip: int,
    after_key: Sequence[object] | None = None,
    cancels: StatementCancels | None = None,
    bad_rows: Callable[[int, int], None] | None = None,
) -> Iterator[pl.DataFrame]:
    """Frames of `columns` (at least one: a plan always exports a column; hidden SQLite
    key columns included when asked for), at most `batch_rows` rows each, in order, all
    in one read transaction: from the first row when `skip` is 0, else the rows after
    `after_key` (the values of resume_columns in the last row already handed on).

    Rows are never skipped by position: rows inserted or deleted between two runs would
    shift what an OFFSET skips. Without a key to read after, a run that does not start
    at the first row fails FAILED_PRECONDITION naming spec.source.order_by.

    `cancels.cancel_all()` (from another thread) cancels the statement in flight: the
    read then ends with Interrupted.

    A value the export cannot hold as it is (an infinite time, a multi-dimensional
    array: database_values; a SQLite value not of its column's type) fails the read
    naming its column and its row; with `bad_rows` (on_bad_rows "skip") its row is left
    out instead and told as bad_rows(position, count): the position of the row handed
    on after it (its place in the read, `skip` included), told before that row is
    handed on."""
    handed = max(skip, 0)
    pieces = _read_frames(
        read, schema, columns, batch_rows, skip, after_key, cancels, bad_rows is not None
    )
    try:
        for piece in pieces:
            for offset, count in piece.skipped:
                assert bad_rows is not None
                bad_rows(handed + offset, count)
            if piece.frame.height or not piece.skipped:
                yield piece.frame
            handed += piece.frame.height
    except UnreadableValue as exc:
        raise exc.at(handed) from None


def _read_frames(
    read: DatabaseRead,
    schema: pl.Schema,
    columns: Sequence[str],
    batch_rows: int,
    skip: int,
    after_key: Sequence[object] | None,
    cancels: StatementCancels | None,
    skip_bad: bool,
) -> Iterator[DatabaseRows]:
    cancels = cancels or StatementCancels()
    if skip <= 0:
        after_key = None
    elif after_key is None or len(after_key) != len(read.order_by):
        raise FailedPrecondition(
            "spec.source.order_by: this export cannot continue exactly after its last "
            f"journalled row: its order key ({', '.join(c[:64] for c in read.order_by)}) "
            "has no value that compares back exactly (a NULL, or a type such as a float, "
            "bytes or a nanosecond time); continuing by row position could skip or repeat "
            "rows, so export it again as a new export, ordered by integer, text, time or "
            "decimal columns"
        )
    elif read.kind == "sqlite":
        after_key = _stored_key(read, schema, after_key)
    wanted = pl.Schema({c: _column_type(read, schema, c) for c in columns})
    if read.server is not None:
        sql, params = postgres_source.select_sql(
            read.server,
            _pg_relation(read),
            columns,
            read.order_by,
            _pg_filters(read),
            0,
            after_key,
            null_keys=not read.unique_order,
        )
        ranged = _pg_ranged(read, columns, after_key)
        yield from postgres_reading.read_frames(
            read.server, sql, params, wanted, batch_rows, ranged, cancels, skip_bad=skip_bad
        )
        return
    selected, positions = _projection(read, columns)
    sql, params = _select(read, selected, after=after_key, schema=schema)
    if read.kind == "sqlite":
        with _sqlite(read) as con, cancels.cancelling(con.interrupt):
            con.execute("BEGIN")
            cursor = con.execute(sql, params)
            while rows := cursor.fetchmany(batch_rows):
                yield sqlite_rows(rows, wanted, positions, skip_bad)
        return
    with _duckdb(read) as con, cancels.cancelling(con.interrupt):
        import duckdb

        con.begin()
        try:
            for batch in _arrow_batches(con.sql(sql, params=params), batch_rows):
                yield _duckdb_rows(batch, skip_bad)
        except duckdb.DataError as exc:
            # A conversion or range error on some row, of the caller's query or of a
            # view read as a table: its message quotes the value, so only its type is said.
            read_as = (
                "a CAST or conversion in spec.source.query fails on some value); change the query"
                if read.query
                else f"reading spec.source.table {quoted(read.table)} fails on some value: a "
                "CAST or conversion in the view, or a value out of its type's range); fix the "
                "view, or read the table with spec.source.query"
            )
            # No row to leave out: the database itself stopped the query.
            unskipped = (
                '; on_bad_rows "skip" cannot leave out what DuckDB fails on' if skip_bad else ""
            )
            raise FailedPrecondition(
                f"the DuckDB source failed on its rows ({type(exc).__name__}: {read_as}{unskipped}"
            ) from None


def _duckdb_rows(batch: Any, skip_bad: bool) -> DatabaseRows:
    """A DuckDB batch as a frame once its values are checked (database_values): the
    first value the export cannot hold fails the read, or with `skip_bad` the rows
    holding one are left out."""
    dropped: list[int] = []
    if skip_bad:
        batch, dropped = without_flagged(batch, duckdb_refusals(batch))
    else:
        check_duckdb(batch)
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    return DatabaseRows(frame, skipped_at(dropped))


def _column_type(read: DatabaseRead, schema: pl.Schema, column: str) -> pl.DataType:
    if read.kind == "sqlite" and column.startswith(SQLITE_KEY_PREFIX):
        return sqlite_key_type(read.order_by[int(column.removeprefix(SQLITE_KEY_PREFIX))])
    return schema[column]


def _stored_key(read: DatabaseRead, schema: pl.Schema, after_key: Sequence[object]) -> list[object]:
    """A journalled SQLite key as the values SQLite stored (hidden key columns decoded)."""
    columns = resume_columns(read.kind, read.order_by, schema)
    try:
        return [
            stored_value(order, value) if column.startswith(SQLITE_KEY_PREFIX) else value
            for order, column, value in zip(read.order_by, columns, after_key, strict=True)
        ]
    except ValueError:
        raise FailedPrecondition(
            "spec.source.order_by: the journalled order key of this export does not read "
            "back exactly (journalled by an earlier version); export it again as a new export"
        ) from None


def _projection(read: DatabaseRead, columns: Sequence[str]) -> tuple[list[str], list[int]]:
    """The SELECT list, and where in a result row each of `columns` is. A hidden SQLite
    key column is its order column's stored value: the very value of that column when
    it is read anyway (fetching it twice costs as much as encoding it), else selected."""
    selected = [_quote(c) for c in columns if not c.startswith(SQLITE_KEY_PREFIX)]
    if read.kind != "sqlite":
        return [_quote(c) for c in columns], list(range(len(columns)))
    positions = []
    for column in columns:
        if not column.startswith(SQLITE_KEY_PREFIX):
            positions.append(selected.index(_quote(column)))
            continue
        source = read.order_by[int(column.removeprefix(SQLITE_KEY_PREFIX))]
        if source != SQLITE_ROWID and _quote(source) in selected:
            positions.append(selected.index(_quote(source)))
        else:
            positions.append(len(selected))
            selected.append(key_sql(source))
    return selected, positions


def _select(
    read: DatabaseRead,
    selected: Sequence[str],
    *,
    count: bool = False,
    after: Sequence[object] | None = None,
    schema: pl.Schema | None = None,
) -> tuple[str, list[Any]]:
    projection = "count(*)" if count else ", ".join(selected)
    sql = f"SELECT {projection} FROM {_relation(read)} AS sluice_source"
    params: list[Any] = []
    terms: list[str] = []
    if read.ids and len(read.ids) <= MAX_PUSHED_IDS:
        column = _quote(read.id_column)
        # The same lower() on both sides: SQLite's folds ASCII letters only, as the
        # pipeline does; DuckDB's folds every letter (`Ä` too), on the id as on the
        # column, so it keeps more rows, never fewer, for the pipeline to filter. The
        # trim takes off ASCII_SPACES, as the pipeline's strip does.
        if read.ids_ignore_case:
            lowered = ", ".join(["lower(?)"] * len(read.ids))
            terms.append(f"lower({ascii_strip_sql(column, read.kind)}) IN ({lowered})")
        else:
            terms.append(f"{column} IN ({', '.join('?' * len(read.ids))})")
        params.extend(read.ids)
    for column, operator, value in read.bounds:
        term, param = _bound_term(read.kind, column, operator, value)
        terms.append(term)
        params.append(param)
    if after is not None and not count:
        if read.kind == "sqlite" and any(value is None for value in after):
            term, values = sqlite_after_nulls_term(read.order_by, after)
            terms.append(term)
            params.extend(values)
        else:
            placeholders = ["?"] * len(read.order_by)
            if read.kind == "duckdb" and schema is not None:
                placeholders = [duckdb_parameter(schema.get(c)) for c in read.order_by]
            if read.kind == "duckdb" and not read.unique_order:
                # DuckDB sorts NULLs last: a row comparison would leave NULL keys out.
                keys = [key_sql(c) for c in read.order_by]
                term, values = nulls_last_after_term(keys, placeholders, after)
                terms.append(term)
                params.extend(values)
            else:
                terms.append(after_key_term(read.order_by, placeholders))
                params.extend(after)
    if terms:
        sql += " WHERE " + " AND ".join(terms)
    if count:
        return sql, params
    sql += " ORDER BY " + ", ".join(key_sql(c) for c in read.order_by)
    return sql, params


def pushable_bounds(
    kind: DatabaseKind, bounds: Sequence[tuple[str, str, Any]], schema: pl.Schema
) -> tuple[tuple[str, str, Any], ...]:
    """The bounds (time range, simple where terms) a SQLite or DuckDB file evaluates
    without ever leaving out a row the pipeline keeps, so pushing them only reads fewer
    rows: integer comparisons (on SQLite only on integer and float columns); decimals on
    DuckDB; text only with `=` (a column's collation, NOCASE say, could make `<>` leave
    out a row that differs in case, while `=` at worst lets more rows through); the time
    range (SQLite: compared as normalised times, see _bound_term).

    SQLite keeps a DECIMAL(p,s) column's values as binary floats (or integers), which
    it compares as floats, the pipeline as decimals (a value that does not fit s places
    exactly fails the read): no comparison on such a column is pushed down."""
    kept = []
    for column, operator, value in bounds:
        if isinstance(value, bool) or column not in schema:
            continue
        dtype = schema[column]
        if isinstance(value, str):
            pushable = operator == "="
        elif isinstance(value, int):
            pushable = kind == "duckdb" or dtype.is_integer() or dtype.is_float()
        elif isinstance(value, Decimal):
            pushable = kind == "duckdb"
        else:
            pushable = isinstance(value, datetime | date) and operator in (">=", "<")
        if pushable:
            kept.append((column, operator, value))
    return tuple(kept)


def pushable_ids(kind: DatabaseKind, dtype: pl.DataType) -> bool:
    """Whether an ids filter on a column of `dtype` is read by a SQLite or DuckDB file
    without leaving out a row the pipeline keeps. DuckDB: always (its types are the
    pipeline's). SQLite: integers, floats, text and bytes, which it compares as they
    are; not decimals (binary floats the pipeline rounds, and sqlite3 cannot bind a
    Decimal) nor times and dates (text in any spelling: "T" or a space)."""
    if kind == "duckdb":
        return True
    return dtype.is_integer() or dtype.is_float() or dtype in (pl.String, pl.Binary)


def _bound_term(kind: DatabaseKind, column: str, operator: str, value: Any) -> tuple[str, Any]:
    """SQL and parameter of one pushed-down bound. SQLite holds times as text in more
    than one spelling ("2024-01-01 10:00", "...T10:00:00.5+02:00"), so both sides go
    through datetime()/date(), which normalise them to UTC seconds: that rounding is
    monotonic, so `t >= since` implies `datetime(t) >= datetime(since)` and `t < until`
    implies `datetime(t) <= datetime(until)` (the end is taken inclusive): the database
    may pass a few more rows, which the pipeline filters, but never leaves one out.
    A spelling SQLite cannot read (datetime() gives NULL) but the pipeline can
    ("2024/01/05 10:00", "+0200") is passed on for the pipeline to judge; a NULL time is
    in no range."""
    assert operator in ("=", "<>", "<", "<=", ">", ">=")
    quoted = _quote(column)
    if kind == "sqlite" and isinstance(value, datetime):
        operator = "<=" if operator == "<" else operator
        term = f"datetime({quoted})"
        unread = f"{quoted} IS NOT NULL AND {term} IS NULL"
        return f"({unread} OR {term} {operator} datetime(?))", value.isoformat()
    if kind == "sqlite" and isinstance(value, date):
        term = f"date({quoted})"
        unread = f"{quoted} IS NOT NULL AND {term} IS NULL"
        return f"({unread} OR {term} {operator} date(?))", value.isoformat()
    return f"{quoted} {operator} ?", value


def _pg_estimated_rows(read: DatabaseRead, target: PostgresTarget) -> int:
    """The planner's estimate of the rows the export reads (EXPLAIN, nothing is read).

    A total for progress, not a count: a COUNT(*) first was a second full scan of the
    source by the backend (as much backend CPU and wall time as the read's own scan, and
    in another snapshot than the export's anyway). For a table without filters the
    estimate comes from the statistics scaled to the table's current size (exact after
    ANALYZE on an unchanged table); with filters or a query it is the planner's guess,
    so the rows done can end below or above it."""
    where, params = _pg_filters(read).where(target)
    sql = f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {_pg_relation(read)} AS sluice_source{where}"
    with postgres_source.connect(target) as con:
        row = con.execute(sql, params).fetchone()
    plan = row[0] if row else None
    if not isinstance(plan, list) or not plan:
        return 0
    return max(int(plan[0]["Plan"]["Plan Rows"]), 0)


def _pg_ranged(
    read: DatabaseRead, columns: Sequence[str], after_key: Sequence[object] | None
) -> postgres_reading.RangedRead | None:
    """How a PostgreSQL table read by one integer key is cut into key ranges for
    parallel reads (postgres_read_connections), or None: one connection reads it all.
    A query never gets here (its key is not catalog-proven)."""
    server = read.server
    # Only a key the catalog proves unique and NOT NULL (a table's primary key or a
    # unique index's NOT NULL column): ranges never hold a NULL key, and each range
    # reads through that key's index rather than scanning the table.
    if server is None or server.read_connections <= 1 or len(read.order_by) != 1:
        return None
    if not read.unique_order:
        return None
    key = read.order_by[0]
    reading = server.column(key)
    if reading.as_text or not reading.dtype.is_integer():
        return None
    relation = _pg_relation(read)
    filters = _pg_filters(read)
    extent, params = postgres_source.extent_sql(server, relation, key, after_key)

    def select(lower: int | None, upper: int | None) -> tuple[str, list[Any]]:
        bounds = list(filters.bounds)
        if lower is not None:
            bounds.append((key, ">=", lower))
        if upper is not None:
            bounds.append((key, "<", upper))
        ranged = replace(filters, bounds=tuple(bounds))
        return postgres_source.select_sql(
            server, relation, columns, read.order_by, ranged, 0, after_key
        )

    return postgres_reading.RangedRead((extent, params), select)


def _pg_filters(read: DatabaseRead) -> postgres_source.Filters:
    # Any number of ids: PostgreSQL takes them as one array parameter.
    return postgres_source.Filters(
        read.id_column, read.ids, read.bounds, read.since, read.or_late, read.ids_ignore_case
    )


def _pg_relation(read: DatabaseRead) -> str:
    return postgres_source.relation(read.table_schema, read.table, read.query)


def _relation(read: DatabaseRead) -> str:
    if read.query:
        # A newline before ")": a query ending in a -- comment cannot swallow it. Only a
        # single query expression parses as a subquery, so no second statement runs.
        return f"({read.query}\n)"
    if read.table_schema:
        return f"{_quote(read.table_schema)}.{_quote(read.table)}"
    return _quote(read.table)


# --- SQLite ---------------------------------------------------------------------------


@contextmanager
def _sqlite(read: DatabaseRead) -> Iterator[sqlite3.Connection]:
    checked = checked_database(read.path, read.source_name)
    with checked as verify, _sqlite_connection(read, verify) as con:
        yield con


@contextmanager
def _sqlite_connection(read: DatabaseRead, verify: Verify) -> Iterator[sqlite3.Connection]:
    uri = f"file:{quote(read.path)}?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error:
        raise InvalidArgument("spec.source.uri", "cannot open the SQLite database") from None
    try:
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
            # SQLite resolves every symlink of the name itself and opens the result.
            main = [row[2] for row in con.execute("PRAGMA database_list") if row[1] == "main"]
            verify(main[0] if main else "")
            yield con
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                # A writer holds the lock past the busy timeout: it may pass.
                raise Unavailable(
                    "the SQLite source database is locked by a writer; retry later"
                ) from None
            raise
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc) or "malformed" in str(exc):
                raise InvalidArgument("spec.source.uri", "is not a SQLite database") from None
            raise
    finally:
        con.close()


def _sqlite_schema(con: sqlite3.Connection, read: DatabaseRead) -> pl.Schema:
    if read.query:
        # A temporary view (in memory, never in the file) names the result's columns and
        # their declared types; only a SELECT can be a view.
        try:
            con.execute(f"CREATE TEMP VIEW {_QUERY_VIEW} AS {read.query}")
        except sqlite3.Error as exc:
            raise InvalidArgument("spec.source.query", _first_line(exc)) from None
        info = con.execute(f"PRAGMA temp.table_info({_QUERY_VIEW})").fetchall()
        relation = f"temp.{_QUERY_VIEW}"
    else:
        schema_name = read.table_schema or "main"
        info = con.execute(
            f"PRAGMA {_quote(schema_name)}.table_info({_quote(read.table)})"
        ).fetchall()
        if not info:
            raise InvalidArgument(
                "spec.source.table", f"no table {read.table[:128]!r} in the SQLite database"
            )
        relation = _relation(read)
    types: dict[str, pl.DataType] = {}
    for _, name, declared, *_ in info:
        dtype = sqlite_type(declared)
        if dtype is None:
            dtype = _sampled_type(con, relation, name)
        types[name] = dtype
    return pl.Schema(types)


_DECIMAL = re.compile(r"\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)")


def sqlite_type(declared: str) -> pl.DataType | None:
    """The Arrow/Polars type of a declared SQLite column type; None when undeclared."""
    text = declared.upper()
    if not text.strip():
        return None
    if "BOOL" in text:
        return pl.Boolean()
    if "INT" in text:
        return pl.Int64()
    if "TIMESTAMPTZ" in text or "WITH TIME ZONE" in text:
        return pl.Datetime("us", "UTC")
    if "TIMESTAMP" in text or "DATETIME" in text:
        return pl.Datetime("us")
    if text.startswith("DATE"):
        return pl.Date()
    if any(word in text for word in ("CHAR", "CLOB", "TEXT", "JSON", "UUID")):
        return pl.String()
    if "BLOB" in text or "BINARY" in text:
        return pl.Binary()
    if "DECIMAL" in text or "NUMERIC" in text:
        match = _DECIMAL.search(text)
        if match:
            return pl.Decimal(int(match.group(1)), int(match.group(2) or 0))
    # REAL, FLOAT, DOUBLE and SQLite's numeric affinity (NUMERIC, DECIMAL, MONEY...
    # without a precision): from the declaration alone, never the values held, so that
    # an UPDATE cannot change an export's type between runs. An integer a float would
    # round (past 2^53) fails the read (_sqlite_series).
    return pl.Float64()


def _sampled_type(con: sqlite3.Connection, relation: str, column: str) -> pl.DataType:
    """An undeclared column (a query's expression): the type of its first value."""
    row = con.execute(
        f"SELECT {_quote(column)} FROM {relation} WHERE {_quote(column)} IS NOT NULL LIMIT 1"
    ).fetchone()
    value = None if row is None else row[0]
    if isinstance(value, int):
        return pl.Int64()
    if isinstance(value, float):
        return pl.Float64()
    if isinstance(value, bytes):
        return pl.Binary()
    return pl.String()


# --- DuckDB ---------------------------------------------------------------------------

#: DuckDB's table functions (read_csv, read_text, read_parquet, ATTACH, httpfs) would let a
#: `source.query` read any file the daemon can, or any URL, past the allowed roots: the
#: connection may touch nothing but its own database file, load no extension, and the
#: query cannot switch that back on.
_DUCKDB_CONFINED: dict[str, str | bool | int | float | list[str]] = {
    "enable_external_access": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "lock_configuration": True,
}


@contextmanager
def _duckdb(read: DatabaseRead) -> Iterator[Any]:
    import duckdb  # the server extra; imported where used, as the other drivers are

    with checked_database(read.path, read.source_name) as verify:
        try:
            con = duckdb.connect(read.path, read_only=True, config=_DUCKDB_CONFINED)
        except duckdb.Error as exc:
            if "Could not set lock" in str(exc):
                # Another process has it open for writing (its application running): it
                # may pass. Not the driver's text: it names that process's program and PID.
                raise Unavailable(
                    "the DuckDB source database is locked by another process; retry later"
                ) from None
            raise _unopened_duckdb(read, exc) from None
        try:
            verify(None)
        except PermissionDenied:
            con.close()
            raise
    try:
        if read.query:
            _check_one_select(duckdb, read.query)
        elif not read.table:
            raise InvalidArgument("spec.source.table", "is empty")
        yield con
    finally:
        con.close()


def _unopened_duckdb(read: DatabaseRead, exc: BaseException) -> InvalidArgument:
    """DuckDB's words quote the file's path: a named source's go to the log only."""
    cause = _first_line(exc)
    if not read.source_name:
        return InvalidArgument("spec.source.uri", f"cannot open the DuckDB database ({cause})")
    _log.warning("named source %r: cannot open the DuckDB database: %s", read.source_name, cause)
    return InvalidArgument(
        "spec.source.uri",
        f"named source {quoted(read.source_name)}: cannot open the DuckDB database; the "
        "server log says why",
    )


def _arrow_batches(result: Any, batch_rows: int) -> Any:
    """A pyarrow RecordBatchReader over a DuckDB relation (con.sql: the Arrow batches
    come straight from the query; over a DB-API result, con.execute, DuckDB copies
    the rows once more): to_arrow_reader since DuckDB 1.4 (fetch_arrow_reader, its
    older name, is gone in 2.0)."""
    if hasattr(result, "to_arrow_reader"):
        return result.to_arrow_reader(batch_rows)
    return result.fetch_arrow_reader(batch_rows)


def _check_one_select(duckdb: Any, query: str) -> None:
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise InvalidArgument("spec.source.query", _first_line(exc)) from None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise InvalidArgument("spec.source.query", "must be one SELECT (or WITH ... SELECT)")


def _what_failed(read: DatabaseRead, exc: Exception) -> SluiceError:
    message = _first_line(exc)
    if read.query:
        return InvalidArgument("spec.source.query", message)
    if "does not exist" in message or "not found" in message.lower():
        return InvalidArgument(
            "spec.source.table", f"no table {read.table[:128]!r} in the DuckDB database"
        )
    return InvalidArgument("spec.source.table", message)


def _primary_key(read: DatabaseRead) -> tuple[str, ...]:
    if read.kind == "sqlite":
        with _sqlite(read) as con:
            schema_name = read.table_schema or "main"
            info = con.execute(
                f"PRAGMA {_quote(schema_name)}.table_info({_quote(read.table)})"
            ).fetchall()
            key = [name for _, name, _, _, _, pk in sorted(info, key=lambda r: r[5]) if pk]
            if key:
                return tuple(key)
            without_rowid = con.execute(
                "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?", [read.table]
            ).fetchone()
            if without_rowid and "WITHOUT ROWID" in str(without_rowid[0]).upper():
                return ()
            return (SQLITE_ROWID,)
    with _duckdb(read) as con:
        row = con.execute(
            "SELECT constraint_column_names FROM duckdb_constraints() "
            "WHERE constraint_type = 'PRIMARY KEY' AND table_name = ? "
            "AND database_name = current_database() "
            "AND schema_name = coalesce(nullif(?, ''), current_schema())",
            [read.table, read.table_schema],
        ).fetchone()
        return tuple(row[0]) if row else ()


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__
