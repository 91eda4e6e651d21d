"""An incremental export of a PostgreSQL table that never misses a late row.

The cursor bound (rows past the parent's watermark) is evaluated by the database. A row
can commit after an export with a cursor value below that export's watermark (a long
transaction that started before it): `cursor > watermark` would never select it. So the
next export also takes every row that the parent's snapshot (recorded in its manifest's
`source.snapshot`) did not see: rows whose xmin is a transaction that committed after
that snapshot or was still running then (Airbyte's xmin idea, on exact snapshots). Both
tests run in the same snapshot as the data. Such rows reach the pipeline flagged in a
hidden column that the incremental predicate accepts.

A query's rows have no xmin to look at (they may come from several tables, or be
computed), so an incremental export of a PostgreSQL `source.query` by a cursor must give a
look-back: a safety lag at least as long as the longest write transaction, re-reading the
rows whose cursor falls in it (INVALID_ARGUMENT naming spec.incremental.lookback
without one). Parents without a recorded snapshot rely on the cursor alone, plus the
look-back when one is given.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import polars as pl

from sluice.server.errors import InvalidArgument
from sluice.server.pipeline.cursor_values import python_value
from sluice.server.pipeline.postgres_source import LATE_COLUMN, late_column
from sluice.server.pipeline.source import ResolvedSource
from sluice.server.planning.incremental_plan import IncrementPlan


def push_down_increment(
    source: ResolvedSource, schema: pl.Schema, increment: IncrementPlan, lookback_seconds: float
) -> tuple[ResolvedSource, pl.Schema, IncrementPlan]:
    """The source, source schema and increment of a PostgreSQL incremental read (the
    same three, unchanged, for anything else)."""
    database = source.database
    since = increment.since
    if (
        database is not None
        and database.server is not None
        and database.query
        and increment.mode == "incremental"
        and increment.cursor
        and not lookback_seconds
    ):
        raise InvalidArgument(
            "spec.incremental.lookback",
            "an incremental export of a PostgreSQL query needs a look-back: rows that "
            "commit late with a cursor below the watermark are found by xmin in a table, "
            "which a query does not have; give a look-back longer than your longest write "
            "transaction, or export the table",
        )
    if (
        database is None
        or database.server is None
        or not increment.cursor
        or since is None
        or since.value is None
        or increment.predicate is None
    ):
        return source, schema, increment
    bound = python_value(since.value, schema[increment.cursor])
    operator = ">"
    if lookback_seconds:
        bound = bound - timedelta(seconds=lookback_seconds)
        operator = ">="
    parent = increment.parent
    snapshot = parent.source_snapshot if parent is not None else None
    late = snapshot is not None and not database.query
    server = database.server
    if late:
        assert snapshot is not None
        server = replace(
            server, columns=(*server.columns, (LATE_COLUMN, late_column(snapshot.snapshot)))
        )
        increment = replace(increment, predicate=increment.predicate | pl.col(LATE_COLUMN))
        schema = pl.Schema({**schema, LATE_COLUMN: pl.Boolean()})
    database = replace(
        database, server=server, since=(increment.cursor, operator, bound), or_late=late
    )
    return replace(source, database=database), schema, increment
