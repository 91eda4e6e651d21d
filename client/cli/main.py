"""The `sluice` command: run the daemon, or talk to one."""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

from sluice.client._client import ADDRESS_ENV, DEFAULT_ADDRESS, DEFAULT_TIMEOUT
from sluice.client._errors import DeadlineExceededError, ServerUnreachableError, SluiceError
from sluice.client._extras import install_hint
from sluice.client._tls import CA_ENV, CERT_ENV, KEY_ENV, ClientTls
from sluice.client._token import TOKEN_ENV
from sluice.client.cli.ask import ask
from sluice.client.cli.auth import auth_group
from sluice.client.cli.context import CliState
from sluice.client.cli.export import export_group
from sluice.client.cli.flight_commands import get_records, put_records
from sluice.client.cli.gdpr import gdpr_group
from sluice.client.cli.history import delete, diff, retain, verify
from sluice.client.cli.keygen import keygen
from sluice.client.cli.output import CliError, CliUsageError
from sluice.client.cli.params import ServerType
from sluice.client.cli.read import read_export
from sluice.client.cli.schedule import schedule_group
from sluice.client.cli.sources import source_group, template_group
from sluice.client.demo import demo

#: Environment variable holding the CLI's call deadline (--timeout), in seconds.
TIMEOUT_ENV = "SLUICE_TIMEOUT"
#: The longest --timeout (about 11.5 days, more than any call needs): gRPC fails every
#: call at once, with a misleading deadline message, past what it can represent (inf, 1e10).
MAX_TIMEOUT = 1e6


class _Seconds(click.ParamType[float, Any]):
    """A number of seconds above 0 and at most MAX_TIMEOUT; a bad one is named as given
    (nan, which compares false to every bound, is refused too)."""

    name = "seconds"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = math.nan
        if not 0 < seconds <= MAX_TIMEOUT:
            self.fail(
                f"{value!r} is no number of seconds above 0 and at most {MAX_TIMEOUT:g}",
                param,
                ctx,
            )
        return seconds


class _SluiceGroup(click.Group):
    """Turns the client's errors into one stderr line each, at the single place every
    command passes through, so no command can leak a traceback for an expected failure."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ServerUnreachableError as exc:
            if _tls_failure(exc.detail) or _uses_tls(ctx):
                # A refused handshake looks like an unreachable server to grpc core.
                raise CliError(
                    f"cannot reach the Sluice server at {exc.address} over TLS: is it "
                    "running, does --tls-ca verify its certificate, and does it need a "
                    "client certificate (--tls-cert, --tls-key)?"
                ) from exc
            if _closed_on_hello(exc.detail):
                # Something listens and hangs up on a plaintext hello: a TLS port, most
                # likely (a daemon that is not running refuses the connection instead).
                raise CliError(
                    f"the Sluice server at {exc.address} closed the connection: if it "
                    f"serves TLS, give --tls-ca FILE (env {CA_ENV}), the CA that verifies it"
                ) from exc
            raise CliError(
                f"cannot reach the Sluice server at {exc.address} (is `sluice serve` running?)"
            ) from exc
        except DeadlineExceededError as exc:
            if not exc.call:
                raise CliError(str(exc)) from exc
            within = f"within {exc.deadline:g} s" if exc.deadline is not None else "in time"
            raise CliError(
                f"{exc.call} to the Sluice server at {exc.address} got no answer {within}: "
                "it may be overloaded or stuck, or the call needs longer; allow more with "
                f"--timeout SECONDS (env {TIMEOUT_ENV})"
            ) from exc
        except SluiceError as exc:
            raise CliError(str(exc)) from exc
        except UnicodeEncodeError as exc:
            # A non-UTF-8 byte in an argument (or in the working directory a relative
            # path is resolved against) reaches Python as a lone surrogate
            # (surrogateescape), which protobuf and gRPC cannot encode. The bytes are
            # not echoed: they may be part of a secret, and would not print anyway.
            if exc.reason != "surrogates not allowed":
                raise
            raise CliUsageError(
                "an argument (or a path made from one) is not valid UTF-8"
            ) from None


@click.group(cls=_SluiceGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--server",
    envvar=ADDRESS_ENV,
    type=ServerType(),
    metavar="HOST:PORT",
    help=f"Address of the Sluice daemon [env: {ADDRESS_ENV}; default: {DEFAULT_ADDRESS}].",
)
@click.option(
    "--tls-ca",
    envvar=CA_ENV,
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"PEM CA certificate verifying the daemon; connect with TLS [env: {CA_ENV}].",
)
@click.option(
    "--tls-cert",
    envvar=CERT_ENV,
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"PEM client certificate for mutual TLS; needs --tls-key [env: {CERT_ENV}].",
)
@click.option(
    "--tls-key",
    envvar=KEY_ENV,
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"PEM private key of --tls-cert [env: {KEY_ENV}].",
)
@click.option(
    "--token-file",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"File holding the bearer token of this caller's principal [default: ${TOKEN_ENV}].",
)
@click.option(
    "--insecure-token",
    "insecure_token",
    is_flag=True,
    help="Send the bearer token even in plaintext to a non-loopback --server (without "
    "--tls-ca); refused otherwise, as anyone on the path could read it.",
)
@click.option(
    "--timeout",
    envvar=TIMEOUT_ENV,
    type=_Seconds(),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    metavar="SECONDS",
    help=f"How long each call waits for the daemon's answer [env: {TIMEOUT_ENV}]. Verify, "
    "delete and retain, and following an export, wait as long as they take.",
)
@click.version_option(package_name="sluice")
@click.pass_context
def cli(
    ctx: click.Context,
    server: str | None,
    tls_ca: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    token_file: Path | None,
    insecure_token: bool,
    timeout: float,
) -> None:
    """Sluice: streaming, resumable, verifiable data exports."""
    ctx.obj = CliState(
        server=server or None,
        tls_ca=tls_ca,
        tls_cert=tls_cert,
        tls_key=tls_key,
        token_file=token_file,
        insecure_token=insecure_token,
        timeout=timeout,
    )


def _uses_tls(ctx: click.Context) -> bool:
    state = ctx.find_object(CliState)
    return (
        state is not None and ClientTls.resolve(state.tls_ca, state.tls_cert, state.tls_key).enabled
    )


def _closed_on_hello(detail: str) -> bool:
    """grpc core's wording when the peer accepted the connection and closed it."""
    return "socket closed" in detail.lower()


def _tls_failure(detail: str) -> bool:
    """grpc core's wording for a failed TLS handshake (wrong CA, plaintext server,
    client certificate refused)."""
    lowered = detail.lower()
    return any(word in lowered for word in ("ssl", "handshake", "certificate", "tls"))


_CONFIG_OPTION = click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML settings file. Precedence: options here, then SLUICE_* variables, then the file.",
)
_STATE_DIR_OPTION = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Folder for the job store, keys and other local state [default: .sluice].",
)
_JOB_STORE_OPTION = click.option(
    "--job-store",
    metavar="URL",
    help="postgresql://USER@HOST:PORT/DB to keep jobs in PostgreSQL (no password in the "
    "URL: job_store_password_ref, PGPASSWORD or ~/.pgpass) [env: SLUICE_JOB_STORE; "
    "default: the SQLite file STATE_DIR/jobs.sqlite3].",
)


@cli.command()
@_CONFIG_OPTION
@click.option(
    "--address", metavar="HOST:PORT", help="Address to listen on [default: 127.0.0.1:7070]."
)
@_STATE_DIR_OPTION
@click.option(
    "--allow-root",
    "allowed_roots",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Local folder exports may be written under; repeatable [default: STATE_DIR/exports].",
)
@click.option(
    "--allow-source-root",
    "allowed_source_roots",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Local folder sources may be read from; repeatable [default: STATE_DIR/sources].",
)
@click.option(
    "--insecure",
    is_flag=True,
    default=None,
    help="Allow a non-loopback --address without [tls] or without [[auth.principals]]; "
    "a warning is logged at each start [env: SLUICE_INSECURE].",
)
@click.option(
    "--audit-log",
    metavar="FILE|stderr",
    help="Append one JSON line per state-changing or denied call here [env: SLUICE_AUDIT_LOG].",
)
@click.option(
    "--recover-job-store",
    is_flag=True,
    default=None,
    help="If the job store is missing or empty, rebuild it from the manifests under the "
    "export roots instead of refusing to start [env: SLUICE_RECOVER_JOB_STORE].",
)
@_JOB_STORE_OPTION
@click.option(
    "--schedule-poll-seconds",
    type=click.FloatRange(min=0.05, max=3600),
    default=None,
    metavar="S",
    help="Seconds between looks for due schedule ticks [env: SLUICE_SCHEDULE_POLL_SECONDS; "
    "default: 10].",
)
@click.option(
    "--replica-id",
    metavar="NAME",
    help="This daemon's name among replicas sharing a job store [env: SLUICE_REPLICA_ID; "
    "default: host name and a random suffix].",
)
@click.option(
    "--job-store-poll-seconds",
    type=click.FloatRange(0.05, 3600.0),
    metavar="SECONDS",
    help="Seconds between looks in the job store for other replicas' changes (PostgreSQL "
    "notifies at once; this is the fallback) [env: SLUICE_JOB_STORE_POLL_SECONDS; default: 1].",
)
@click.option(
    "--job-lease-seconds",
    type=click.FloatRange(1.0, 3600.0),
    metavar="SECONDS",
    help="Lease of a running export; another replica takes it over once it expires "
    "[env: SLUICE_JOB_LEASE_SECONDS; default: 30].",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(1, 100),
    metavar="N",
    help="Attempts of an export whose runs fail transiently, before it fails "
    "[env: SLUICE_MAX_ATTEMPTS; default: 3].",
)
@click.option(
    "--flight-get-memory-bytes",
    type=click.IntRange(0, 1 << 40),
    metavar="BYTES",
    help="Stored chunk bytes Flight reads (DoGet, GetFlightInfo) hold in memory at once "
    "across calls; past it a chunk is spooled to a temporary file "
    "[env: SLUICE_FLIGHT_GET_MEMORY_BYTES; default: 536870912].",
)
@click.option(
    "--retry-backoff-seconds",
    type=click.FloatRange(0.05, 3600.0),
    metavar="SECONDS",
    help="Wait before the first retry of a transiently failed export, doubled per retry "
    "[env: SLUICE_RETRY_BACKOFF_SECONDS; default: 5].",
)
@click.option(
    "--metrics-address",
    metavar="HOST:PORT",
    help="Serve Prometheus metrics on http://HOST:PORT/metrics [env: SLUICE_METRICS_ADDRESS; "
    "default: off].",
)
@click.option(
    "--health-address",
    metavar="HOST:PORT",
    help="Also serve grpc.health.v1 alone, in plaintext, on HOST:PORT (probes of a TLS "
    "daemon) [env: SLUICE_HEALTH_ADDRESS; default: off].",
)
@click.option(
    "--otel-endpoint",
    metavar="URL",
    help="Send OpenTelemetry traces to this OTLP/HTTP collector, e.g. http://127.0.0.1:4318 "
    "[env: SLUICE_OTEL_ENDPOINT; default: off].",
)
@click.option(
    "--postgres-read-connections",
    type=click.IntRange(1, 16),
    metavar="N",
    help="Connections one export of a PostgreSQL table reads with, in one snapshot; 1 "
    "reads on one [env: SLUICE_POSTGRES_READ_CONNECTIONS; default: 2].",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    help="text lines, or one JSON object per line [env: SLUICE_LOG_FORMAT; default: text].",
)
def serve(
    config_file: Path | None,
    address: str | None,
    state_dir: Path | None,
    allowed_roots: tuple[Path, ...],
    allowed_source_roots: tuple[Path, ...],
    insecure: bool | None,
    recover_job_store: bool | None,
    job_store: str | None,
    schedule_poll_seconds: float | None,
    audit_log: str | None,
    replica_id: str | None,
    job_store_poll_seconds: float | None,
    job_lease_seconds: float | None,
    max_attempts: int | None,
    flight_get_memory_bytes: int | None,
    retry_backoff_seconds: float | None,
    metrics_address: str | None,
    health_address: str | None,
    otel_endpoint: str | None,
    log_format: str | None,
    postgres_read_connections: int | None,
) -> None:
    """Run the export daemon in the foreground.

    SIGTERM or Ctrl-C stops it cleanly: running exports are handed back at once, to
    another replica sharing the job store or to the next start.
    """
    # Looked up by name at run time so client-only installs (and every other command)
    # never import the server's heavy dependencies, and the client type-checks alone.
    # `pip install sluice` ships the daemon's code but not its dependencies (the
    # `server` extra): importing it fails on the first one missing.
    run_server: Callable[[Path | None, Mapping[str, object]], int]
    try:
        run_server = importlib.import_module("sluice.server.main").serve
    except ImportError as exc:
        raise CliError(install_hint("`sluice serve`", "server", exc)) from None

    # Only options actually given, so the settings file and defaults keep the rest.
    overrides: dict[str, object] = {}
    if address is not None:
        overrides["address"] = address
    if state_dir is not None:
        overrides["state_dir"] = state_dir
    if allowed_roots:
        overrides["allowed_roots"] = list(allowed_roots)
    if allowed_source_roots:
        overrides["allowed_source_roots"] = list(allowed_source_roots)
    if recover_job_store:
        overrides["recover_job_store"] = True
    if insecure:
        overrides["insecure"] = True
    if job_store is not None:
        overrides["job_store"] = job_store
    if schedule_poll_seconds is not None:
        overrides["schedule_poll_seconds"] = schedule_poll_seconds
    if audit_log is not None:
        overrides["audit_log"] = audit_log
    if replica_id is not None:
        overrides["replica_id"] = replica_id
    if job_lease_seconds is not None:
        overrides["job_lease_seconds"] = job_lease_seconds
    if job_store_poll_seconds is not None:
        overrides["job_store_poll_seconds"] = job_store_poll_seconds
    for key, value in (
        ("max_attempts", max_attempts),
        ("flight_get_memory_bytes", flight_get_memory_bytes),
        ("retry_backoff_seconds", retry_backoff_seconds),
        ("metrics_address", metrics_address),
        ("health_address", health_address),
        ("otel_endpoint", otel_endpoint),
        ("log_format", log_format),
        ("postgres_read_connections", postgres_read_connections),
    ):
        if value is not None:
            overrides[key] = value
    sys.exit(run_server(config_file, overrides))


@cli.command()
@_CONFIG_OPTION
@_STATE_DIR_OPTION
@_JOB_STORE_OPTION
@click.option(
    "--check",
    is_flag=True,
    help="Only report the job store's schema version; exit 1 when it is behind this "
    "Sluice (or newer), writing nothing.",
)
def migrate(
    config_file: Path | None, state_dir: Path | None, job_store: str | None, check: bool
) -> None:
    """Migrate the configured job store to this Sluice's schema (the daemon also does
    this at start, under a lock). A store newer than this Sluice is refused untouched."""
    try:
        run_migrate = importlib.import_module("sluice.server.migrate").migrate
    except ImportError as exc:
        raise CliError(install_hint("`sluice migrate`", "server", exc)) from None
    overrides: dict[str, object] = {}
    if state_dir is not None:
        overrides["state_dir"] = state_dir
    if job_store is not None:
        overrides["job_store"] = job_store
    sys.exit(run_migrate(config_file, overrides, check=check))


export_group.add_command(read_export)
for command in (verify, diff, delete, retain):
    export_group.add_command(command)
export_group.add_command(put_records)
export_group.add_command(get_records)
cli.add_command(export_group)
cli.add_command(schedule_group)
cli.add_command(source_group)
cli.add_command(template_group)
cli.add_command(gdpr_group)
cli.add_command(keygen)
cli.add_command(ask)
cli.add_command(auth_group)
cli.add_command(demo)


def main() -> None:
    cli(prog_name="sluice")


if __name__ == "__main__":
    main()
