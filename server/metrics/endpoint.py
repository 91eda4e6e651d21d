"""The metrics HTTP endpoint (`metrics_address`, path /metrics): its own registry, so
only Sluice's metrics (and the process's) are served, and its own port, apart from gRPC."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server

from sluice.server.errors import SluiceError
from sluice.server.job_store_watch import StoreReading
from sluice.server.metrics.export_metrics import (
    ExportMetrics,
    JobStoreCollector,
    add_build_info,
    add_certificate_expiry,
)
from sluice.server.metrics.grpc_metrics import GrpcMetricsInterceptor

_log = logging.getLogger("sluice.metrics")


class MetricsListenError(SluiceError):
    pass


class MetricsEndpoint:
    """Every metric of the daemon, and the HTTP server that exposes them."""

    def __init__(
        self,
        store_reading: Callable[[], StoreReading],
        *,
        version: str,
        dataset_label: bool,
        certificate_not_after: Callable[[], datetime] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.telemetry = ExportMetrics(self.registry, dataset_label=dataset_label)
        self.grpc_interceptor = GrpcMetricsInterceptor(self.registry)
        self.registry.register(JobStoreCollector(store_reading))
        add_build_info(self.registry, version)
        if certificate_not_after is not None:
            add_certificate_expiry(self.registry, certificate_not_after)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self, address: str) -> int:
        """Serve on `address` (HOST:PORT; port 0 picks one); return the bound port."""
        host, _, port = address.rpartition(":")
        try:
            server, thread = start_http_server(int(port), host.strip("[]"), self.registry)
        except OSError as exc:
            raise MetricsListenError(
                f"cannot serve metrics on {address}: {exc.strerror or exc}"
            ) from None
        self._server, self._thread = server, thread
        bound = int(server.server_address[1])
        _log.info("metrics on http://%s:%d/metrics", host, bound)
        return bound

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
