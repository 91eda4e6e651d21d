"""The Grafana dashboard the chart ships queries only metrics the daemon exports, and
every metric the daemon exports is documented in the README: names are an API, and
neither side may drift from the code."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from sluice.server.job_store_watch import JobStoreWatch
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.metrics.endpoint import MetricsEndpoint
from tests.chart.rendering import CHART, REPO

_NAME = re.compile(r"\b(?:sluice|grpc_server)_[a-z_]+")


def _exported() -> set[str]:
    """Every sample name the daemon's registry exposes (with _total, _bucket, ...)."""
    watch = JobStoreWatch(
        SQLiteJobStore(":memory:"), on_ready=lambda _ready: None, on_newer_schema=print
    )
    watch.check_once()  # the store's gauges appear once a check has read them
    endpoint = MetricsEndpoint(
        watch.reading,
        version="test",
        dataset_label=False,
        certificate_not_after=lambda: datetime.now(UTC),
    )
    registry: CollectorRegistry = endpoint.registry
    return {
        sample.name
        for family in registry.collect()
        for sample in family.samples
        if sample.name.startswith(("sluice_", "grpc_server_"))
        and not sample.name.endswith("_created")
    } | {
        # Labelled families show no sample until a first label set is used.
        "sluice_storage_requests_total",
        "sluice_storage_retries_total",
        "sluice_redacted_values_total",
        "grpc_server_handled_total",
        *(f"grpc_server_handling_seconds_{s}" for s in ("bucket", "count", "sum")),
    }


def test_dashboard_queries_only_exported_metrics() -> None:
    dashboard = json.loads((CHART / "dashboards" / "sluice.json").read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in _NAME.findall(target["expr"])
    }
    assert queried and queried <= _exported(), queried - _exported()


def test_readme_documents_every_exported_metric() -> None:
    readme = (REPO / "README.md").read_text()
    documented = set(_NAME.findall(readme))
    families = {re.sub(r"_(bucket|count|sum)$", "", n) for n in _exported()}
    assert families <= documented, families - documented


#: Gauges every replica reads from the shared job store: each one reports the whole
#: store's count, so a sum over replicas multiplies it by their number.
STORE_WIDE = ("sluice_exports_running", "sluice_exports_queued")


def test_store_wide_gauges_are_not_summed_over_replicas() -> None:
    dashboard = json.loads((CHART / "dashboards" / "sluice.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for name in STORE_WIDE:
                if name in target["expr"]:
                    assert re.search(rf"\bmax\({name}\b", target["expr"]), target["expr"]
