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
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import polars as pl

from sluice.format.manifest import SourceSnapshot
from sluice.server.pipeline.bad_rows import SourceDataError
from sluice.server.pipeline.postgres_source import (
    PostgresTarget,
    connection_params,
    open_connection,
    statement_error,
)
from sluice.server.pipeline.prefetch import prefetched

#: Bytes of COPY data the driver decodes into one Arrow batch. Three batches are in
#: memory at most (one being transformed, one ready, one being read): 12 MiB of COPY
#: data, about what one 8 MiB batch plus the socket's buffers held before the read
#: ran on its own thread.
BATCH_HINT_BYTES = 4 * 1024 * 1024
#: Driver batches read ahead on their own thread, waiting for this one.
DRIVER_BATCHES_AHEAD = 1
_PLACEHOLDER = re.compile(r"%%|%s")


def read_frames(
    target: PostgresTarget, sql: str, params: list[Any], schema: pl.Schema, batch_rows: int
) -> Iterator[pl.DataFrame]:
    """Frames of the SELECT's rows (typed as `schema`), at most `batch_rows` rows each,
    all in one snapshot, which is noted on the target."""
    import adbc_driver_manager
    import adbc_driver_postgresql.dbapi as adbc  # the server extra, imported where used
    from psycopg.conninfo import make_conninfo

    conninfo = make_conninfo(**connection_params(target, snapshot_reads=True))
    errors = adbc_driver_manager.Error
    con = open_connection(target, lambda: adbc.connect(conninfo), errors)
    try:
        cursor = con.cursor()
        cursor.execute("SELECT pg_current_snapshot()::text, now()")
        row = cursor.fetchone()
        assert row is not None
        target.noted(SourceSnapshot(str(row[0]), row[1]))
        cursor.adbc_statement.set_options(
            **{"adbc.postgresql.batch_size_hint_bytes": str(BATCH_HINT_BYTES)}
        )
        started = time.monotonic()
        cursor.execute(inline(sql, params))
        # The driver's stream read (libpq receiving COPY data, decoding it into Arrow)
        # runs on its own thread without the GIL, beside this thread's casts, query and
        # redaction: a profile of the daemon had the reader thread spend about half its
        # time waiting in this read, with nothing else running on it meanwhile.
        driver_batches = _failures_as_os_errors(
            cursor.fetch_record_batch(), _past(started, target.profile.statement_timeout)
        )
        with prefetched(driver_batches, DRIVER_BATCHES_AHEAD, "postgres-copy") as batches:
            for batch in batches:
                frame = _typed(pl.from_arrow(_unwrapped(batch)), schema)
                for start in range(0, frame.height, batch_rows):
                    yield frame.slice(start, batch_rows)
        cursor.close()
    except (errors, OSError) as exc:  # the record batch stream raises OSErrors
        raise statement_error(target, exc, "spec.source") from None
    finally:
        con.close()


def _past(started: float, timeout: float) -> Callable[[], bool]:
    """Whether the statement started at `started` has run for `timeout` seconds (0:
    no statement_timeout)."""
    return lambda: timeout > 0 and time.monotonic() - started >= timeout


def _failures_as_os_errors(batches: Any, timed_out: Callable[[], bool]) -> Iterator[Any]:
    """The driver's record batches, a failure of its stream as the OSError that driver
    releases from 1.9 raise (with libpq's message, told apart by statement_error): the
    optimised builds before 1.9 (pyproject.toml says why those) raise a bare
    ArrowInvalid instead, e.g. when the server goes away mid-read, which is then read
    as a lost connection (retried after the last row) — unless the statement had run
    for its statement_timeout by then: PostgreSQL cancelled it, which is said as such
    (retrying would run into the same timeout)."""
    import pyarrow as pa

    iterator = iter(batches)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            if timed_out():
                raise OSError("ERROR: canceling statement due to statement timeout") from exc
            raise OSError(f"the driver's read failed: {str(exc) or 'no cause given'}") from exc
        yield batch


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


def _typed(arrow: Any, schema: pl.Schema) -> pl.DataFrame:
    """The frame with the planned types: numeric arrives as exact text from the driver
    and becomes Decimal(p,s) here; anything that does not fit fails naming the column."""
    frame = arrow if isinstance(arrow, pl.DataFrame) else pl.DataFrame(arrow)
    frame = frame.rename(dict(zip(frame.columns, schema.names(), strict=True)))
    if frame.schema == schema:
        return frame
    columns = []
    for name, dtype in schema.items():
        column = frame.get_column(name)
        if column.dtype != dtype:
            try:
                column = column.cast(dtype, strict=True)
            except pl.exceptions.PolarsError:
                raise SourceDataError(
                    f"spec.source: a value of column {name[:64]!r} does not fit type {dtype}"
                ) from None
        columns.append(column)
    return pl.DataFrame(columns)
