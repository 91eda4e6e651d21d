"""What a run does before its pipeline that reads the source: planning again (a
database source's catalog) and counting the rows for progress. Both run as a read does,
on a thread of their own with their statements registered, so a stop (cancel, shutdown,
lost lease) cancels them instead of waiting for a locked table or a long count; a CSV
or NDJSON file's count checks the stop between pieces of the file instead."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import TypeVar

import polars as pl

from sluice.server.committed.chain_tips import ChainTip
from sluice.server.committed.sealed_values import ValueSealer
from sluice.server.errors import Interrupted
from sluice.server.jobs.model import Job
from sluice.server.pipeline.prefetch import prefetched
from sluice.server.pipeline.source import ResolvedSource, count_rows
from sluice.server.pipeline.statement_cancels import StatementCancels, cancelled_by
from sluice.server.planning.authorization import check_run_access
from sluice.server.planning.plan import ExportPlan
from sluice.server.planning.subject_package import PackagePlan, build_export_plan
from sluice.server.settings import Settings
from sluice.server.tracing import export_span

_log = logging.getLogger("sluice.export")
T = TypeVar("T")

#: A run's plan: one export's, or a subject package's.
Planned = ExportPlan | PackagePlan


def plan_run(
    job: Job,
    settings: Settings,
    stop: threading.Event,
    *,
    offsets_as_utc: bool = True,
    chain_tip: ChainTip | None = None,
    sealer: ValueSealer | None = None,
) -> Planned:
    """The job planned again for this run (its source may have changed); `offsets_as_utc`
    False for a resume of a first run that read fixed-offset zones the former way
    (run_facts.RunFacts.offsets_utc); `chain_tip` an increment's chain's newest export
    as the job store knows it (increment_chains.chain_tip). Planning reads a database
    source's catalog, and a lock on the table holds those statements as long as a
    read's: so it runs as a read does, on its own thread, its statements cancelled once
    `stop` is set (Interrupted)."""
    cancels = StatementCancels()
    planned = _planned(job, settings, cancels, offsets_as_utc, chain_tip, sealer)
    return _cancellable(planned, f"plan-{job.id}", stop, cancels)


def _cancellable(
    produced: Iterator[T], name: str, stop: threading.Event, cancels: StatementCancels
) -> T:
    """The one item `produced` yields, made on a thread of its own (`name`): once `stop`
    is set, the statements registered with `cancels` are cancelled and Interrupted is
    raised here rather than waiting for them."""
    with prefetched(produced, 1, name, stop=stop, interrupt=cancels.cancel_all) as items:
        (item,) = items
    return item


def _planned(
    job: Job,
    settings: Settings,
    cancels: StatementCancels,
    offsets_as_utc: bool,
    chain_tip: ChainTip | None,
    sealer: ValueSealer | None,
) -> Iterator[Planned]:
    # On the planning thread, in the caller's context (prefetched copies it).
    yield _plan(job, settings, cancels, offsets_as_utc, chain_tip, sealer)


def _plan(
    job: Job,
    settings: Settings,
    cancels: StatementCancels,
    offsets_as_utc: bool,
    chain_tip: ChainTip | None,
    sealer: ValueSealer | None,
) -> Planned:
    with export_span("export.plan"), cancelled_by(cancels):
        return build_export_plan(
            job.spec,
            settings,
            job.id,
            lambda source: check_run_access(settings.auth, job.created_by, source.files, source),
            owner=job.created_by,
            offsets_as_utc=offsets_as_utc,
            chain_tip=chain_tip,
            sealer=sealer,
        )


def source_rows(plan: ExportPlan, settings: Settings, stop: threading.Event) -> int:
    """The source's rows for progress (0: not counted). A SQLite or DuckDB count runs
    the export's query in full, as long as the read itself may, so it is run as the
    read is: on its own thread, its statement cancelled once `stop` is set (raises
    Interrupted), rather than holding a cancel or a shutdown until it ends. A CSV or
    NDJSON count reads the files whole, so it checks `stop` between pieces of them."""
    cheap = plan.source.format in {"parquet", "ipc"}
    if not (cheap or settings.count_source_rows):
        return 0
    try:
        if plan.source.database is None:
            return count_rows(plan.source, stop=stop)
        cancels = StatementCancels()
        return _cancellable(
            _counted(plan.source, cancels), f"count-{plan.export_id}", stop, cancels
        )
    except Interrupted:
        raise
    except (Exception, pl.exceptions.PanicException) as exc:  # noqa: BLE001 - progress is
        # optional; the export is not. Polars' scan panics on a later file's column it
        # cannot hold (run-end encoded): the reader's survey names it (unreadable_columns).
        # The type only: Polars' message can quote the row it stumbled on.
        _log.warning("cannot count source rows for progress (%s)", type(exc).__name__)
        return 0


def _counted(source: ResolvedSource, cancels: StatementCancels) -> Iterator[int]:
    with cancelled_by(cancels):  # PostgreSQL's EXPLAIN too
        total = count_rows(source, cancels)
    yield total
