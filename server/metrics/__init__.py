"""Prometheus metrics: the only package that imports prometheus_client. The runner and
the executor report through server.telemetry.ExportTelemetry, the sinks through
sinks.observer.StorageObserver, gRPC calls through an interceptor; main wires them."""
