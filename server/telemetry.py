"""What the daemon reports about its exports to whoever watches (Prometheus metrics,
server/metrics/), through one small protocol so the runner and the executor never
import a metrics library. Without metrics the do-nothing `NO_TELEMETRY` is used."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from sluice.server.jobs.model import ChunkRecord, Job
from sluice.sinks.observer import NO_STORAGE_OBSERVER, StorageObserver

_log = logging.getLogger("sluice.telemetry")


class ExportTelemetry(Protocol):
    @property
    def storage(self) -> StorageObserver:
        """Where sinks report their requests and retries."""
        ...

    def chunk_committed(self, dataset: str, chunk: ChunkRecord) -> None:
        """A chunk of an export of `dataset` was journalled (it counts from now on)."""
        ...

    def export_finished(self, job: Job) -> None:
        """`job` reached a final state (succeeded, failed or cancelled)."""
        ...


class NoTelemetry:
    """Reports to nobody."""

    @property
    def storage(self) -> StorageObserver:
        return NO_STORAGE_OBSERVER

    def chunk_committed(self, dataset: str, chunk: ChunkRecord) -> None:
        pass

    def export_finished(self, job: Job) -> None:
        pass


NO_TELEMETRY: ExportTelemetry = NoTelemetry()


def report_safely(report: Callable[..., None], *args: object) -> None:
    """Call a telemetry method; a failure is logged, never raised: counting an export
    must not fail it."""
    try:
        report(*args)
    except Exception as exc:  # noqa: BLE001 - see docstring
        _log.warning("telemetry failed (%s); the export is unaffected", type(exc).__name__)
