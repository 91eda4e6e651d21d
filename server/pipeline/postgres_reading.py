"""Reading a PostgreSQL source: Arrow record batches from ADBC's PostgreSQL driver.

Why ADBC: its driver reads with `COPY (SELECT ...) TO STDOUT (FORMAT BINARY)` and decodes
straight into Arrow, in batches of about `batch_size_hint_bytes`, so memory is bounded
and no Python object is made per value. Measured on this project's test machine (1M rows
of bigint, numeric, text, timestamptz, jsonb; 2 shared cores): ADBC 0.50-0.54M rows/s,
psycopg 3 server-side binary cursor 0.14M rows/s, psycopg COPY BINARY 0.14M rows/s, at
about the same peak RSS (all bounded).

One run reads in one REPEATABLE READ READ ONLY transaction (the connection's default,
so the driver's own BEGIN starts it): the snapshot query and the COPY see the same
snapshot. COPY takes no parameters, so the few values (ids, bounds) are written into the
SQL as literals rendered by psycopg, which quotes them for PostgreSQL.

Parallel reads (postgres_read_connections > 1, a table ordered by one integer key the
catalog proves unique and NOT NULL): one backend producing COPY data is the bound of a
single-connection read, so the key's extent is cut into contiguous ranges
(postgres_ranges) read by several connections in ONE snapshot: the first connection
exports its snapshot (pg_export_snapshot) and the others adopt it (SET TRANSACTION
SNAPSHOT) before any query. Connection j reads ranges j, j+K, j+2K... each `ORDER BY
key`, a bounded number of batches ahead of the consumer, which takes the ranges in key
order: the rows are handed on in exactly the order of a single-connection read, so the
journalled last key and resume are unchanged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow.compute as pc

from sluice.format.manifest import SourceSnapshot
from sluice.server.pipeline.bad_rows import SKIP_HINT, SourceDataError
from sluice.server.pipeline.database_bad_rows import (
    DatabaseRows,
    converted_rows,
    kept_rows,
    skipped_at,
    without_flagged,
)
from sluice.server.pipeline.database_values import (
    UnreadableValue,
    check_postgres,
    postgres_refusals,
)
from sluice.server.pipeline.postgres_ranges import KeyRange, parse_histogram, split_range
from sluice.server.pipeline.postgres_source import (
    PostgresTarget,
    connection_params,
    open_connection,
    statement_error,
)
from sluice.server.pipeline.prefetch import prefetched
from sluice.server.pipeline.statement_cancels import StatementCancels

#: Bytes of COPY data the driver decodes into one Arrow batch. Three batches are in
#: memory at most (one being transformed, one ready, one being read): 12 MiB of COPY
#: data, about what one 8 MiB batch plus the socket's buffers held before the read
#: ran on its own thread.
BATCH_HINT_BYTES = 4 * 1024 * 1024
#: Driver batches read ahead on their own thread, waiting for this one.
DRIVER_BATCHES_AHEAD = 1
_log = logging.getLogger(__name__)
_PLACEHOLDER = re.compile(r"%%|%s")


@dataclass(frozen=True)
class RangedRead:
    """How a read may be cut into ranges of one integer key: `extent` is a query of
    (min key, max key, estimated bytes to read) and `select(lower, upper)` the SELECT
    of the rows with lower <= key < upper (None: unbounded), in key order."""

    extent: tuple[str, list[Any]]
    select: Callable[[int | None, int | None], tuple[str, list[Any]]]


def read_frames(
    target: PostgresTarget,
    sql: str,
    params: list[Any],
    schema: pl.Schema,
    batch_rows: int,
    ranged: RangedRead | None = None,
    cancels: StatementCancels | None = None,
    *,
    skip_bad: bool = False,
) -> Iterator[DatabaseRows]:
    """Frames of the SELECT's rows (typed as `schema`), at most `batch_rows` rows each,
    all in one snapshot, which is noted on the target. With `ranged` and more than one
    read connection, the rows are read in key ranges on several connections. A value
    the export cannot hold fails the read, or with `skip_bad` its row is left out.

    `cancels.cancel_all()` cancels every connection's statement in flight (the server
    stops it at once): the read then ends with Interrupted, not a statement error."""
    import adbc_driver_manager
    import adbc_driver_postgresql.dbapi as adbc  # the server extra, imported where used
    import pyarrow as pa
    from psycopg.conninfo import make_conninfo

    cancels = cancels or StatementCancels()
    conninfo = make_conninfo(**connection_params(target, snapshot_reads=True))
    errors = adbc_driver_manager.Error
    con = open_connection(target, lambda: adbc.connect(conninfo), errors)
    try:
        with cancels.cancelling(con.adbc_cancel):
            cursor = con.cursor()
            cursor.execute("SELECT pg_current_snapshot()::text, now()")
            row = cursor.fetchone()
            assert row is not None
            target.noted(SourceSnapshot(str(row[0]), row[1]))
            ranges = _ranges(cursor, ranged, target.read_connections)
            if len(ranges) > 1:
                assert ranged is not None
                cursor.execute("SELECT pg_export_snapshot()")
                exported = cursor.fetchone()
                assert exported is not None
                cursor.close()

                def opener() -> Any:
                    # A clone shares the first connection's ADBC database: opening a
                    # database connects once more to query pg_type and builds the
                    # driver's type resolver, about 0.019 CPU s of the daemon's and
                    # 0.007 of the backends' each; a clone costs 0.0004 and 0.003.
                    return open_connection(target, con.adbc_clone, errors)

                queries = [ranged.select(r.lower, r.upper) for r in ranges]
                _log.info(
                    "reading %s in %d key ranges on %d connections in one snapshot",
                    target.name, len(ranges), min(target.read_connections, len(ranges)),
                )  # fmt: skip
                yield from _parallel(
                    target, con, opener, str(exported[0]), queries, schema, batch_rows,
                    cancels, skip_bad,
                )  # fmt: skip
                return
            cursor.adbc_statement.set_options(
                **{"adbc.postgresql.batch_size_hint_bytes": str(BATCH_HINT_BYTES)}
            )
            cursor.execute(inline(sql, params))
            # The driver's stream read (libpq receiving COPY data, decoding it into Arrow)
            # runs on its own thread without the GIL, beside this thread's casts, query and
            # redaction: a profile of the daemon had the reader thread spend about half its
            # time waiting in this read, with nothing else running on it meanwhile.
            driver_batches = cursor.fetch_record_batch()
            with prefetched(driver_batches, DRIVER_BATCHES_AHEAD, "postgres-copy") as batches:
                for batch in batches:
                    yield from _frame(batch, schema, skip_bad).slices(batch_rows)
            cursor.close()
    except (errors, OSError) as exc:  # the record batch stream raises OSErrors
        raise statement_error(target, exc, "spec.source") from None
    except pa.ArrowInvalid as exc:
        # The stream fails with ArrowInvalid for a few SQLSTATE classes even in 1.13
        # (25, 2D, 3B, 55, 42) and for COPY data it cannot decode; libpq's text says why.
        if "[libpq]" not in str(exc):
            raise
        raise statement_error(target, exc, "spec.source") from None
    finally:
        con.close()


def _ranges(cursor: Any, ranged: RangedRead | None, connections: int) -> list[KeyRange]:
    """The key ranges to read (one, unbounded: read it all on this connection)."""
    if ranged is None or connections <= 1:
        return [KeyRange(None, None)]
    cursor.execute(inline(*ranged.extent))
    row = cursor.fetchone()
    assert row is not None
    lowest, highest, size, histogram = row
    if lowest is None or highest is None:
        return [KeyRange(None, None)]
    bounds = parse_histogram(histogram)
    return split_range(int(lowest), int(highest), int(size or 0), connections, RANGE_BYTES, bounds)


#: Table bytes per key range, about: two driver batches, which is what each reading
#: connection holds ahead of the consumer, so the next connection's range is read while
#: the current one is consumed (a much larger range would leave it waiting, full).
RANGE_BYTES = 2 * BATCH_HINT_BYTES
#: Batches each reading connection holds ahead of the consumer.
RANGE_BATCHES_AHEAD = 2


class _RangeEnd:
    """Marks the end of one range's rows in a connection's stream."""


_RANGE_END = _RangeEnd()


def _parallel(
    target: PostgresTarget,
    first: Any,
    opener: Callable[[], Any],
    snapshot_id: str,
    queries: Sequence[tuple[str, list[Any]]],
    schema: pl.Schema,
    batch_rows: int,
    cancels: StatementCancels,
    skip_bad: bool,
) -> Iterator[DatabaseRows]:
    """The rows of `queries` (ranges in key order) read by up to read_connections
    connections in the snapshot `snapshot_id` of `first`, handed on in query order;
    the connections it opens are cancelled by `cancels` too."""
    count = min(target.read_connections, len(queries))
    with ExitStack() as stack:
        streams = []
        for index in range(count):
            mine = list(queries[index::count])
            reads = _connection_reads(target, first if index == 0 else None, opener,
                                      snapshot_id, mine, schema, cancels, skip_bad)  # fmt: skip
            streams.append(
                stack.enter_context(
                    prefetched(reads, RANGE_BATCHES_AHEAD, f"postgres-copy-{index}")
                )
            )
        for position in range(len(queries)):
            stream = streams[position % count]
            for frame in stream:
                if isinstance(frame, _RangeEnd):
                    break
                yield from frame.slices(batch_rows)


def _connection_reads(
    target: PostgresTarget,
    connection: Any,
    opener: Callable[[], Any],
    snapshot_id: str,
    queries: Sequence[tuple[str, list[Any]]],
    schema: pl.Schema,
    cancels: StatementCancels,
    skip_bad: bool,
) -> Iterator[DatabaseRows | _RangeEnd]:
    """One connection's ranges, each followed by _RANGE_END: on `connection` (which is
    in the snapshot already, and registered with `cancels`), else on a new one that
    adopts the snapshot first, before anything else runs in its transaction, is
    cancelled by `cancels` and is closed at the end."""
    own = connection is None
    con = opener() if own else connection
    try:
        with cancels.cancelling(con.adbc_cancel) if own else nullcontext():
            yield from _ranges_on(con, own, snapshot_id, queries, schema, skip_bad)
    finally:
        if own:
            con.close()


def _ranges_on(
    con: Any,
    own: bool,
    snapshot_id: str,
    queries: Sequence[tuple[str, list[Any]]],
    schema: pl.Schema,
    skip_bad: bool,
) -> Iterator[DatabaseRows | _RangeEnd]:
    """The ranges read on `con`, after adopting the snapshot when it is `own`."""
    cursor = con.cursor()
    if own:
        cursor.execute(f"SET TRANSACTION SNAPSHOT '{_snapshot_id(snapshot_id)}'")
    for sql, params in queries:
        cursor.adbc_statement.set_options(
            **{"adbc.postgresql.batch_size_hint_bytes": str(BATCH_HINT_BYTES)}
        )
        cursor.execute(inline(sql, params))
        for batch in cursor.fetch_record_batch():
            yield _frame(batch, schema, skip_bad)
        yield _RANGE_END
    cursor.close()


_SNAPSHOT_ID = re.compile(r"^[0-9A-Fa-f-]{1,64}$")


def _snapshot_id(text: str) -> str:
    """An exported snapshot id as PostgreSQL writes them (hex and dashes), checked
    before it is written into SQL."""
    if not _SNAPSHOT_ID.fullmatch(text):
        raise ValueError("not a snapshot id")
    return text


def inline(sql: str, params: list[Any]) -> str:
    """`sql` with each %s replaced by its parameter as a PostgreSQL literal (and %%
    by %), as psycopg would bind them on the client."""
    from psycopg import sql as psql

    values = iter(params)

    def replace(match: re.Match[str]) -> str:
        if match.group() == "%%":
            return "%"
        return psql.Literal(next(values)).as_string(None)

    text = _PLACEHOLDER.sub(replace, sql)
    if next(values, _END) is not _END:
        raise ValueError("more parameters than placeholders")
    return text


_END = object()


def _unwrapped(batch: Any) -> Any:
    """The record batch with extension-typed columns as their storage, without copying:
    json/jsonb arrive as exact text in arrow.json."""
    import pyarrow as pa

    if not any(isinstance(field.type, pa.BaseExtensionType) for field in batch.schema):
        return batch
    columns = [
        column.storage if isinstance(column.type, pa.BaseExtensionType) else column
        for column in batch.columns
    ]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _frame(batch: Any, schema: pl.Schema, skip_bad: bool) -> DatabaseRows:
    """A driver batch as a frame of the planned types, once its values are checked
    (database_values; the array shapes select_sql adds, in the column after the
    columns read): UnreadableValue names the first value the export cannot hold, or,
    with `skip_bad` (on_bad_rows "skip"), the rows holding one are left out."""
    batch = _unwrapped(batch)
    shapes = None
    if batch.num_columns == len(schema) + 1:
        shapes = batch.column(batch.num_columns - 1)
        if shapes.null_count < len(shapes) and not skip_bad:
            row = pc.index(pc.is_valid(shapes), True).as_py()
            column = schema.names()[shapes[row].as_py()]
            raise UnreadableValue(column, row, _ARRAY_SHAPE.format(column=column[:64]))
        batch = batch.select(range(batch.num_columns - 1))
    if not skip_bad:
        check_postgres(batch)
        return DatabaseRows(_typed(pl.from_arrow(batch), schema))
    size = batch.num_rows
    flagged = postgres_refusals(batch)
    if shapes is not None and shapes.null_count < len(shapes):
        shaped = pc.is_valid(shapes)
        flagged = shaped if flagged is None else pc.or_(flagged, shaped)
    batch, dropped = without_flagged(batch, flagged)
    frame, unconverted = converted_rows(
        _typed(pl.from_arrow(batch), schema, cast=False), lambda rows: _typed(rows, schema)
    )
    if unconverted:
        kept = kept_rows(size, dropped)
        dropped = sorted([*dropped, *(kept[index] for index in unconverted)])
    return DatabaseRows(frame, skipped_at(dropped))


_ARRAY_SHAPE = (
    "an array of more than one dimension or whose lower bound is not 1, which a list "
    "cannot hold as it is; read it as text ({column}::text) in spec.source.query, or "
    "leave the column out"
)


def _typed(arrow: Any, schema: pl.Schema, *, cast: bool = True) -> pl.DataFrame:
    """The frame with the planned types: numeric arrives as exact text from the driver
    and becomes Decimal(p,s) here; anything that does not fit fails naming the column.
    Without `cast`, the frame with the planned names only."""
    frame = arrow if isinstance(arrow, pl.DataFrame) else pl.DataFrame(arrow)
    frame = frame.rename(dict(zip(frame.columns, schema.names(), strict=True)))
    if frame.schema == schema or not cast:
        return frame
    columns = []
    for name, dtype in schema.items():
        column = frame.get_column(name)
        if column.dtype != dtype:
            try:
                column = column.cast(dtype, strict=True)
            except pl.exceptions.PolarsError:
                raise SourceDataError(
                    f"spec.source: a value of column {name[:64]!r} does not fit type {dtype} "
                    f"({SKIP_HINT})"
                ) from None
        columns.append(column)
    return pl.DataFrame(columns)
