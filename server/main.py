"""The daemon's lifecycle: settings, job store, runner, gRPC server, signals.

On SIGTERM or SIGINT it stops accepting calls, lets running exports reach a chunk
boundary (they resume on the next start), and exits within `shutdown_grace_seconds`.
"""

from __future__ import annotations

import faulthandler
import gc
import hashlib
import hmac
import logging
import signal
import sys
import threading
import time
from collections.abc import Mapping
from datetime import timedelta
from functools import partial
from pathlib import Path
from types import FrameType

from sluice.server.allocator import fix_mmap_threshold, limit_arenas
from sluice.server.audit import AuditLog
from sluice.server.committed.sealed_values import ValueSealer
from sluice.server.errors import FailedPrecondition, SluiceError
from sluice.server.execution.executor import ExecutionContext
from sluice.server.execution.key_changes import index_base_key
from sluice.server.execution.verifying_keys import read_at_start
from sluice.server.flight.puts import FlightPuts
from sluice.server.flight.reads import FlightReads
from sluice.server.job_store_watch import JobStoreWatch, probe_store
from sluice.server.jobs.recovery import open_job_store
from sluice.server.log_setup import configure_logging
from sluice.server.metrics.endpoint import MetricsEndpoint
from sluice.server.notifications.notifier import Notifier
from sluice.server.notifications.targets import check_secrets as check_notification_secrets
from sluice.server.pipeline.driver_preload import preload_drivers
from sluice.server.planning.redaction_plan import check_server_policies
from sluice.server.principals import build_authenticator
from sluice.server.rpc.server import (
    build_health_server,
    build_server,
    set_export_serving,
    set_not_serving,
)
from sluice.server.rpc.spans import RpcSpans
from sluice.server.secrets import load_or_create_key
from sluice.server.service.events import EventHub
from sluice.server.service.export_admin import ExportAdmin
from sluice.server.service.export_service import (
    ExportService,
    check_scheduled_spec,
)
from sluice.server.service.runner import ExportRunner
from sluice.server.service.schedule_service import ScheduleService
from sluice.server.service.scheduler import Scheduler, utc_now
from sluice.server.service.server_info import daemon_version
from sluice.server.settings import (
    Settings,
    SettingsError,
    client_environment,
    ignored_environment,
    load_settings,
)
from sluice.server.state_lock import lock_state_folder
from sluice.server.telemetry import NO_TELEMETRY
from sluice.server.tls import ServingCertificate
from sluice.server.tracing import Tracing
from sluice.sinks import open_sink

_log = logging.getLogger("sluice")
#: How long a stop signal taken by another thread may wait for the main thread.
_SIGNAL_CHECK_SECONDS = 1.0


def serve(config_file: Path | None, overrides: Mapping[str, object]) -> int:
    """Run the daemon until a signal; return the process exit status."""
    try:
        settings = load_settings(config_file, overrides)
    except SettingsError as exc:
        print(f"sluice: error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    for name in ignored_environment(settings):
        _log.warning("ignoring environment variable %s: not a setting", name)
    if client_names := client_environment():
        _log.warning(
            "ignoring environment variable(s) %s: they configure the sluice CLI/client,"
            " not the daemon (its TLS is the [tls] table, its tokens [auth])",
            ", ".join(client_names),
        )
    try:
        with lock_state_folder(settings.state_dir):
            return _run(settings)
    except SluiceError as exc:
        print(f"sluice: error: {exc.message}", file=sys.stderr)
        return 1


def _run(settings: Settings) -> int:
    fix_mmap_threshold(settings.malloc_mmap_threshold)
    limit_arenas(settings.malloc_arena_max)
    preload_drivers(profile.kind for profile in settings.source_profiles.values())
    # Before anything else: a bad certificate must stop the daemon before it holds state.
    certificate = ServingCertificate(settings.tls) if settings.tls is not None else None
    if certificate is None and not settings.loopback_only:
        _log.warning(
            "INSECURE: serving plaintext gRPC on non-loopback address %s (insecure = true): "
            "anyone who reaches the port can read the traffic and call every RPC",
            settings.address,
        )
    if not settings.auth.principals and not settings.loopback_only:
        _log.warning(
            "INSECURE: no [[auth.principals]] on non-loopback address %s (insecure = true): "
            "every caller may create, read, cancel and delete every export",
            settings.address,
        )
    # Token references are read now: a missing one stops the start, naming its principal.
    mutual_tls = settings.tls is not None and settings.tls.require_client_auth
    authenticator = build_authenticator(settings.auth, verified_certificates=mutual_tls)
    if not mutual_tls and any(p.cert_identity for p in settings.auth.principals):
        _log.warning(
            "cert_identity of [[auth.principals]] is ignored: certificate identities count "
            "only with [tls] require_client_auth = true (grpcio asks for client "
            "certificates only then)"
        )
    # (0, no limit, is below every max_concurrent_exports, which is at least 1.)
    if settings.max_running_per_principal >= settings.max_concurrent_exports:
        _log.warning(
            "max_running_per_principal = %d limits nothing: max_concurrent_exports = %d"
            " lets no more exports run at once anyway, so one principal can still hold"
            " every run slot (set it below max_concurrent_exports)",
            settings.max_running_per_principal,
            settings.max_concurrent_exports,
        )
    # The signing key is read now: an unusable one would fail every export at its manifest,
    # after reading its source and storing its chunks. So are the older keys it verifies
    # with: an unusable one would refuse every chain it signed, at its next increment.
    # They are kept: what verifies is what was read now.
    read_at_start(settings)
    # So are notification secrets: a delivery would otherwise be given up in the log only.
    check_notification_secrets(settings)
    # And every policy rule (hash keys read): a bad one failed each request naming it.
    check_server_policies(settings)
    _warn_of_export_roots_in_the_state_folder(settings)
    for root in settings.export_roots:
        root.mkdir(parents=True, exist_ok=True)
    _require_a_shared_content_key(settings)
    # The store before the key: a state folder holding keys but no store has lost it.
    store = open_job_store(settings)
    try:
        key = load_or_create_key(
            settings.content_digest_key, settings.state_dir / "keys" / "content-digest.key"
        )
    except FailedPrecondition as exc:
        raise FailedPrecondition(f"content_digest_key: {exc.message}") from None
    hub = EventHub()
    stop = threading.Event()
    newer_schema: list[str] = []

    def on_newer_schema(message: str) -> None:
        _log.error("%s", message)
        newer_schema.append(message)
        stop.set()

    # Started with the server; its readiness changes reach the health service built below.
    watch = JobStoreWatch(
        store,
        on_ready=lambda ready: set_export_serving(health_servicer, ready),
        on_newer_schema=on_newer_schema,
    )
    metrics = None
    if settings.metrics_address:
        metrics = MetricsEndpoint(
            watch.fresh_reading,
            version=daemon_version(),
            dataset_label=settings.metrics_dataset_label,
            certificate_not_after=(lambda: certificate.not_after) if certificate else None,
        )
    telemetry = metrics.telemetry if metrics else NO_TELEMETRY
    tracing = Tracing(settings.otel_endpoint, daemon_version()) if settings.otel_endpoint else None
    context = ExecutionContext(
        settings=settings,
        store=store,
        hub=hub,
        open_sink=partial(open_sink, observer=telemetry.storage),
        content_key=key,
        content_key_id=key_id(key),
        index_key=index_base_key(settings, key),
        telemetry=telemetry,
    )
    if settings.job_store_kind == "sqlite":
        # This daemon holds the state folder, so no other replica uses its SQLite store:
        # whatever ran there before died with its daemon and can be taken over now
        # rather than after its lease runs out.
        store.expire_leases()
    notifier = Notifier(settings, store)
    runner = ExportRunner(context, on_final=notifier.job_ended)
    # Planning opens an encrypted parent's sealed watermark with the key loaded above.
    sealer = ValueSealer(key)
    service = ExportService(
        settings,
        store,
        runner,
        hub,
        (lambda: certificate.not_after) if certificate else None,
        sealer=sealer,
    )
    admin = ExportAdmin(settings, store, open_sink)
    scheduler = Scheduler(
        store,
        store,
        # Scheduled exports belong to the server (created_by ""), as schedules do, and
        # run the spec as the schedule stored it.
        service.create_scheduled,
        start_deadline=timedelta(seconds=settings.schedule_start_deadline_seconds),
        poll_seconds=settings.schedule_poll_seconds,
    )
    schedules = ScheduleService(
        store,
        store,
        scheduler,
        # Checked as the export it will queue: the server's own, as below.
        partial(check_scheduled_spec, settings=settings, sealer=sealer),
        utc_now,
    )
    audit = AuditLog(settings.audit_log) if settings.audit_log else None
    server, health_servicer, port = build_server(
        service,
        admin,
        settings.address,
        settings.grpc_max_workers,
        settings.stream_budget,
        certificate.credentials() if certificate else None,
        authenticator,
        audit,
        schedules=schedules,
        flight_puts=FlightPuts(settings, store, service, hub),
        flight_reads=FlightReads(settings, store, admin, service),
        max_receive_message_length=settings.grpc_max_receive_message_length,
        receive_window_bytes=settings.grpc_receive_window_bytes,
        outer_interceptors=[
            *([RpcSpans(tracing.rpc_tracer())] if tracing else []),
            *([metrics.grpc_interceptor] if metrics else []),
        ],
    )
    health_server = None
    if settings.health_address:
        health_server, health_port = build_health_server(health_servicer, settings.health_address)
    _install_signal_handlers(stop)
    # Before metrics: a scrape asks the watch for a check.
    watch.start()
    if metrics is not None:
        metrics.start(settings.metrics_address)
    if health_server is not None:
        health_server.start()
        _log.info(
            "plaintext health checks on %s:%d",
            settings.health_address.rpartition(":")[0],
            health_port,
        )
    # What start-up built (modules, gRPC, Polars and pyarrow bindings: most of the
    # heap's objects) lives as long as the daemon: frozen, the collector's full passes
    # skip it (0.1 ms). Unfrozen, each full pass walked all of it, 60-200 ms holding the
    # GIL, and in a daemon exporting back to back it landed inside an export every few
    # 1M-row Parquet exports, stalling the encoder's workers and the commit.
    gc.collect()
    gc.freeze()
    server.start()
    runner.start()
    scheduler.start()
    notifier.start()
    host = settings.address.rpartition(":")[0]
    _log.info(
        "sluice listening on %s:%d with %s, %s (state %s, %s job store, replica %s)",
        host,
        port,
        _transport(settings),
        _callers(settings),
        settings.state_dir.resolve(),
        settings.job_store_kind,
        settings.replica_id,
    )
    # Woken each second: the kernel may hand SIGTERM to any thread, and CPython runs the
    # handler (which sets `stop`) only on this thread once it runs again; asleep in a wait
    # without a timeout it never would, and the daemon served on until SIGKILL.
    while not stop.wait(_SIGNAL_CHECK_SECONDS):
        pass
    _log.info(
        "shutting down: waiting up to %.0fs for exports to checkpoint",
        settings.shutdown_grace_seconds,
    )
    # One deadline for the whole stop: each part waited its own timeout in turn, so a
    # scheduler or notifier pass blocked on a job store that is down added its wait to
    # the exports' grace (15.3 s with shutdown_grace_seconds = 10). The background
    # loops are told first and joined last, with what is left.
    deadline = time.monotonic() + settings.shutdown_grace_seconds
    # Whether the store answers, asked now, within the grace: the exports' own words
    # about an outage come from threads the exit may cut short.
    store_silent = probe_store(store)
    watch.stop()
    set_not_serving(health_servicer)
    scheduler.stop(timeout=0)
    notifier.stop(timeout=0)
    rpc_stopped = server.stop(grace=min(settings.shutdown_grace_seconds, 5.0))
    clean = runner.shutdown(_left(deadline))
    rpc_stopped.wait(_left(deadline))
    scheduler.stop(timeout=_left(deadline))
    notifier.stop(timeout=_left(deadline))
    if health_server is not None:
        health_server.stop(grace=None)
    if metrics is not None:
        metrics.stop()
    if tracing is not None:
        tracing.shutdown()
    silent = None if clean else store_silent()
    store.close()
    if audit is not None:
        audit.close()
    if clean:
        _log.info("stopped")
    elif silent is None:
        _log.warning("stopped (some exports did not checkpoint in time)")
    else:
        _log.warning(
            "stopped (some exports did not checkpoint in time: %s; they resume after their"
            " last journalled chunk)",
            silent,
        )
    if newer_schema:
        print(f"sluice: error: {newer_schema[0]}", file=sys.stderr)
        return 1
    return 0


def _transport(settings: Settings) -> str:
    if settings.tls is None:
        return "plaintext"
    if settings.tls.require_client_auth:
        return "mutual TLS"
    return "TLS" + (" (client certificates optional)" if settings.tls.client_ca_file else "")


def _callers(settings: Settings) -> str:
    count = len(settings.auth.principals)
    return f"{count} principal{'s' if count != 1 else ''}" if count else "no principals"


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.0)


def _require_a_shared_content_key(settings: Settings) -> None:
    """Replicas sharing a PostgreSQL store must share the content digest key: a key each
    generated in its own state folder makes an export failed over to another replica
    fail its resume, and digests, diffs and increments compare across keys. (A pod
    without a volume would even make a new key at every restart.)"""
    if settings.job_store_kind != "postgresql" or settings.content_digest_key:
        return
    generated = settings.state_dir / "keys" / "content-digest.key"
    raise FailedPrecondition(
        "content_digest_key: must be set (env:NAME or file:PATH, the same on every "
        "replica) when job_store is PostgreSQL: otherwise each replica generates its own "
        "key in its state folder, and an export failed over to another replica cannot "
        "continue; a daemon that already generated one keeps it with content_digest_key "
        f'= "rawfile:{generated}" (rawfile: reads the key\'s bytes exactly; file: strips '
        "surrounding whitespace, which changes one generated key in about 23)"
    )


def _warn_of_export_roots_in_the_state_folder(settings: Settings) -> None:
    """Replicas sharing a PostgreSQL store each have their own state folder (it is
    locked per daemon), so an export root inside it is one replica's alone: an export
    failed over to another replica would continue without the chunks the first one
    wrote there (its resume fails DATA_LOSS), reads and verify by id on the other replicas
    find no export there (NOT_FOUND), and increments there may re-send rows (the parent
    is not where they look for it). The default root, <state_dir>/exports, is
    such a root. A single daemon on PostgreSQL loses nothing, so it starts, warned."""
    if settings.job_store_kind != "postgresql":
        return
    state = settings.state_dir.resolve()
    for root in settings.export_roots:
        if root.resolve().is_relative_to(state):
            _log.warning(
                "allowed_roots: %s is inside state_dir %s, which is this replica's own:"
                " replicas sharing the PostgreSQL job_store must share export roots (set"
                " allowed_roots to storage every replica sees); chunks one replica writes"
                " there are missing on another, so with several replicas an export failed"
                " over resumes with DATA_LOSS, reads and verify by export id on the other"
                " replicas are NOT_FOUND, and increments may re-send rows already exported",
                root,
                settings.state_dir,
            )


def key_id(key: bytes) -> str:
    """A public name for a key: identifies it without revealing it."""
    return hmac.new(key, b"sluice-key-id", hashlib.sha256).hexdigest()[:16]


def _install_signal_handlers(stop: threading.Event) -> None:
    def request_stop(signum: int, _frame: FrameType | None) -> None:
        _log.info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    # SIGUSR1 prints every thread's stack to stderr from C, without the GIL or a lock:
    # what a daemon that does not stop (or answer) is doing.
    faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
