"""The daemon's metrics and the telemetry that feeds them. Names are an API (fixed by
issue 16 and documented in README "Metrics"); labels stay low-cardinality: `dataset`
only with `metrics_dataset_label = true`, redaction `entity` is a configured rule label."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from sluice.server.job_store_watch import StoreReading
from sluice.server.jobs.model import ChunkRecord, Job, JobState
from sluice.server.pipeline.bad_rows import SKIPPED_ROWS
from sluice.server.pipeline.rows_without_cursor import ROWS_WITHOUT_CURSOR
from sluice.sinks.observer import Outcome, StorageObserver

#: Seconds: exports last from a second to hours.
EXPORT_DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600)
#: Seconds: an fsync is milliseconds, a multipart completion up to a minute.
COMMIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
FINAL_STATES = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class _StorageMetrics:
    def __init__(self, requests: Counter, retries: Counter) -> None:
        self._requests = requests
        self._retries = retries

    def request(self, store: str, operation: str, outcome: Outcome) -> None:
        self._requests.labels(store, operation, outcome).inc()

    def retry(self, store: str) -> None:
        self._retries.labels(store).inc()


class ExportMetrics:
    """ExportTelemetry that counts into `registry`."""

    def __init__(self, registry: CollectorRegistry, *, dataset_label: bool) -> None:
        self._dataset_label = dataset_label
        per_dataset = ("dataset",) if dataset_label else ()
        self.records = Counter(
            "sluice_records_exported",
            "Records in committed chunks.",
            per_dataset,
            registry=registry,
        )
        self.stored_bytes = Counter(
            "sluice_bytes_stored",
            "Bytes of committed chunks as stored (compressed, encrypted).",
            per_dataset,
            registry=registry,
        )
        self.exports = Counter(
            "sluice_exports",
            "Exports that reached a final state.",
            ("state",),
            registry=registry,
        )
        for state in FINAL_STATES:
            self.exports.labels(state.value)
        self.duration = Histogram(
            "sluice_export_duration_seconds",
            "From start (of its last run) to final state, per finished export.",
            buckets=EXPORT_DURATION_BUCKETS,
            registry=registry,
        )
        self.chunk_commit = Histogram(
            "sluice_chunk_commit_seconds",
            "Time to make a written chunk durable (fsync, multipart completion).",
            buckets=COMMIT_BUCKETS,
            registry=registry,
        )
        self.redacted = Counter(
            "sluice_redacted_values",
            "Values changed by redaction in committed chunks, per rule label.",
            ("entity",),
            registry=registry,
        )
        self._storage = _StorageMetrics(
            Counter(
                "sluice_storage_requests",
                "Storage calls, each attempt counted.",
                ("store", "operation", "outcome"),
                registry=registry,
            ),
            Counter(
                "sluice_storage_retries",
                "Storage calls retried after a transient error.",
                ("store",),
                registry=registry,
            ),
        )

    @property
    def storage(self) -> StorageObserver:
        return self._storage

    def chunk_committed(self, dataset: str, chunk: ChunkRecord) -> None:
        if self._dataset_label:
            self.records.labels(dataset).inc(chunk.records)
            self.stored_bytes.labels(dataset).inc(chunk.stored_bytes)
        else:
            self.records.inc(chunk.records)
            self.stored_bytes.inc(chunk.stored_bytes)
        if chunk.commit_seconds:
            self.chunk_commit.observe(chunk.commit_seconds)
        for name, count in chunk.counters:
            # Redaction counters are "<rule label>/<column>"; others have no slash.
            label, slash, _column = name.partition("/")
            if slash and name not in {SKIPPED_ROWS, ROWS_WITHOUT_CURSOR} and count:
                self.redacted.labels(label).inc(count)

    def export_finished(self, job: Job) -> None:
        self.exports.labels(job.state.value).inc()
        if job.started_at is not None:
            finished = job.finished_at or job.updated_at
            self.duration.observe(max((finished - job.started_at).total_seconds(), 0.0))


class JobStoreCollector(Collector):
    """The job store as its last check read it (server/job_store_watch.py): exports
    running and queued, whether the store answered, and when it last did. A scrape never
    queries the store: while it is down Prometheus still gets every metric, at once."""

    def __init__(self, reading: Callable[[], StoreReading]) -> None:
        self._reading = reading

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The families, without reading (the registry asks at registration)."""
        yield from self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        running, queued, up, checked = self._families()
        reading = self._reading()
        up.add_metric([], 1 if reading.up else 0)
        yield up
        if reading.checked_at is None:
            return
        running.add_metric([], reading.running or 0)
        queued.add_metric([], reading.queued or 0)
        checked.add_metric([], reading.checked_at)
        yield from (running, queued, checked)

    @staticmethod
    def _families() -> tuple[
        GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily
    ]:
        return (
            GaugeMetricFamily(
                "sluice_exports_running", "Exports running now (as of the last store check)."
            ),
            GaugeMetricFamily(
                "sluice_exports_queued",
                "Exports waiting for a worker (as of the last store check).",
            ),
            GaugeMetricFamily(
                "sluice_job_store_up", "1 when the job store answered its last check."
            ),
            GaugeMetricFamily(
                "sluice_job_store_last_check_timestamp_seconds",
                "Unix time of the last store check that succeeded (the gauges' age).",
            ),
        )


def add_build_info(registry: CollectorRegistry, version: str) -> None:
    Gauge(
        "sluice_build_info", "Always 1; the daemon's version.", ("version",), registry=registry
    ).labels(version).set(1)


def add_certificate_expiry(registry: CollectorRegistry, not_after: Callable[[], datetime]) -> None:
    """The serving certificate's expiry (Unix seconds), read at each scrape so a rotated
    certificate shows at once."""
    Gauge(
        "sluice_tls_certificate_expiry_seconds",
        "Unix time at which the served TLS certificate expires.",
        registry=registry,
    ).set_function(lambda: not_after().timestamp())
