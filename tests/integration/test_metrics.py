"""Prometheus metrics through a real daemon, scraped over HTTP as Prometheus would: an
export moves the record and byte counters by exactly what its manifest holds, and
exports_total{state="succeeded"} by one; gRPC calls are counted with their status code;
storage requests, chunk commits and redactions are counted, and S3 retries behind a
proxy answering 503s; a daemon without metrics_address opens no metrics port."""

from __future__ import annotations

import json

import pytest

from sluice.client import ExportClient, InvalidArgumentError
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, free_port
from tests.integration.helpers import load_manifest
from tests.integration.scraping import scrape, total, value
from tests.servers.cloud import ProfileDaemon, S3Store
from tests.servers.fault_proxy import FaultPlan, FaultProxy

pytestmark = pytest.mark.integration

ROWS = 5_000


@pytest.fixture
def metered(daemon_factory) -> tuple[Daemon, int]:  # type: ignore[no-untyped-def]
    port = free_port()
    daemon: Daemon = daemon_factory("metered", batch_rows=2048, metrics_address=f"127.0.0.1:{port}")
    daemon.start()
    return daemon, port


def test_an_export_moves_the_counters_by_exactly_its_records(metered) -> None:  # type: ignore[no-untyped-def]
    daemon, port = metered
    source = generate(daemon.sources / "events.parquet", ROWS, seed=3)
    before = scrape(port)
    with ExportClient(daemon.address) as client:
        spec = ExportClient.build_spec(
            source=str(source),
            to=str(daemon.exports),
            dataset="events",
            chunk_rows=1500,
            redaction=pb.Redaction(level="basic"),
        )
        finished = client.wait(client.create(spec).id, timeout=120)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    manifest = load_manifest(finished.manifest_uri)
    after = scrape(port)

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    records = sum(chunk["records"] for chunk in manifest["chunks"])
    assert records == ROWS
    assert moved("sluice_records_exported_total") == records
    assert moved("sluice_bytes_stored_total") == sum(c["stored_bytes"] for c in manifest["chunks"])
    assert moved("sluice_exports_total", state="succeeded") == 1
    assert moved("sluice_exports_total", state="failed") == 0
    assert moved("sluice_export_duration_seconds_count") == 1
    assert moved("sluice_chunk_commit_seconds_count") == len(manifest["chunks"]) == 4
    redacted = {rule: sum(per.values()) for rule, per in manifest["redaction"]["counts"].items()}
    assert sum(redacted.values()) > 0, redacted
    for rule, count in redacted.items():
        assert moved("sluice_redacted_values_total", entity=rule) == count, rule
    assert moved("sluice_storage_requests_total", store="local", outcome="ok") > 0
    assert total(after, "sluice_storage_requests_total", outcome="error") == 0
    assert value(after, "sluice_exports_running") == 0
    assert value(after, "sluice_exports_queued") == 0
    assert value(after, "sluice_job_store_up") == 1
    assert total(after, "sluice_build_info") == 1
    create = {"grpc_service": "sluice.v1.ExportService", "grpc_method": "CreateExport"}
    assert moved("grpc_server_handled_total", grpc_code="OK", grpc_type="unary", **create) == 1
    assert moved("grpc_server_handling_seconds_count", **create) == 1
    # Dataset labels are off by default (cardinality).
    assert all("dataset" not in dict(labels) for _, labels in after)


def test_grpc_calls_are_counted_with_their_status_code(metered) -> None:  # type: ignore[no-untyped-def]
    daemon, port = metered
    with ExportClient(daemon.address) as client:
        spec = ExportClient.build_spec(
            source=str(daemon.sources / "missing.parquet"), to="/elsewhere", dataset="x"
        )
        with pytest.raises(InvalidArgumentError):
            client.create(spec)
    samples = scrape(port)
    labels = {"grpc_service": "sluice.v1.ExportService", "grpc_method": "CreateExport"}
    assert value(samples, "grpc_server_handled_total", grpc_type="unary",
                 grpc_code="INVALID_ARGUMENT", **labels) == 1  # fmt: skip
    assert total(samples, "grpc_server_handled_total", grpc_method="Check", grpc_code="OK") >= 1


def test_dataset_label_when_asked(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    daemon: Daemon = daemon_factory(
        "labelled", metrics_address=f"127.0.0.1:{port}", metrics_dataset_label=True
    )
    daemon.start()
    source = generate(daemon.sources / "events.parquet", 300, seed=4)
    with ExportClient(daemon.address) as client:
        spec = ExportClient.build_spec(source=str(source), to=str(daemon.exports), dataset="ev")
        assert client.wait(client.create(spec).id, timeout=60).state == pb.EXPORT_STATE_SUCCEEDED
    assert value(scrape(port), "sluice_records_exported_total", dataset="ev") == 300


def test_no_metrics_port_unless_configured(daemon: Daemon) -> None:
    assert "metrics on" not in daemon.log_tail(200)
    assert "metrics on http://127.0.0.1:" not in daemon.log_tail(200)


def test_storage_retries_are_counted_per_store(tmp_path, moto_server) -> None:  # type: ignore[no-untyped-def]
    """S3 (moto) behind a proxy that answers 503 to some requests: the export succeeds,
    and its failed attempts and retries show under store="s3"."""
    with FaultProxy(moto_server.port, FaultPlan(unavailable=0.25, seed=5)) as proxy:
        store = S3Store(moto_server.endpoint, proxy.endpoint)
        port = free_port()
        daemon = ProfileDaemon(
            root=tmp_path / "d",
            settings={"metrics_address": f"127.0.0.1:{port}", "log_format": "json"},
            profiles={"lake": store.profile},
            environment=store.environment,
        )
        daemon.start()
        try:
            source = generate(daemon.sources / "events.parquet", 2_000, seed=8)
            with ExportClient(daemon.address) as client:
                spec = ExportClient.build_spec(
                    source=str(source),
                    to=store.root_uri,
                    dataset="events",
                    storage_profile="lake",
                    chunk_rows=500,
                )
                finished = client.wait(client.create(spec).id, timeout=120)
            assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
            samples = scrape(port)
        finally:
            daemon.stop(timeout=20)
    assert total(samples, "sluice_records_exported_total") == 2_000
    retries = value(samples, "sluice_storage_retries_total", store="s3")
    failed = total(samples, "sluice_storage_requests_total", store="s3", outcome="error")
    assert retries > 0 and failed >= retries
    assert total(samples, "sluice_storage_requests_total", store="s3", outcome="ok") > 0
    # The retries' log lines, written on the export's writer and commit threads, name it.
    lines = [json.loads(line) for line in daemon.log_path.read_text().splitlines()]
    retried = [line for line in lines if "retrying in" in line["msg"]]
    assert retried and all(line.get("export_id") == finished.id for line in retried)
