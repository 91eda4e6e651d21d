"""Planning an incremental export: find the parent in the destination (storage is the
source of truth, so this works with an empty job store) and select what is new."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import polars as pl

from server.catalog import CommittedExport, latest_export
from server.errors import InvalidArgument
from server.incremental import Watermark, check_cursor, past_watermark
from server.spec import IncrementalSpec
from sinks.base import Sink

MODES = ("full", "incremental")
_MAX_LOOKBACK = timedelta(days=366)


@dataclass(frozen=True)
class IncrementPlan:
    mode: str
    parent: CommittedExport | None = None
    #: The parent's watermark this export continues from.
    since: Watermark | None = None
    cursor: str = ""
    #: Rows to export (None: all rows).
    predicate: pl.Expr | None = None

    @property
    def parent_export_id(self) -> str | None:
        return self.parent.export_id if self.parent else None


def plan_increment(
    spec: IncrementalSpec, schema: pl.Schema, sink: Sink, dataset: str
) -> IncrementPlan:
    """Validate the incremental request and compute which rows it exports."""
    mode = spec.mode or "full"
    if mode not in MODES:
        raise InvalidArgument("spec.incremental.mode", f"must be one of {', '.join(MODES)}")
    for column in spec.key:
        if column not in schema:
            raise InvalidArgument("spec.incremental.key", f"unknown column {column!r}")
    if spec.lookback_seconds < 0 or timedelta(seconds=spec.lookback_seconds) > _MAX_LOOKBACK:
        raise InvalidArgument("spec.incremental.lookback", "must be between 0 and 366 days")
    if mode == "full":
        if spec.cursor:
            check_cursor(schema, spec.cursor)  # the watermark a later incremental starts from
        return IncrementPlan(mode, cursor=spec.cursor)
    if not spec.cursor:
        raise InvalidArgument(
            "spec.incremental.cursor",
            "incremental exports need a cursor column (key-only change detection is not "
            "supported yet)",
        )
    dtype = check_cursor(schema, spec.cursor)
    parent = latest_export(sink, dataset)
    since = Watermark.from_json(parent.watermark) if parent else None
    if since is not None and since.column != spec.cursor:
        raise InvalidArgument(
            "spec.incremental.cursor",
            f"the parent export {parent.export_id if parent else ''} tracked {since.column!r}, "
            f"not {spec.cursor!r}",
        )
    lookback = timedelta(seconds=spec.lookback_seconds) or None
    predicate = past_watermark(since, dtype, lookback)
    return IncrementPlan(mode, parent, since, spec.cursor, predicate)
