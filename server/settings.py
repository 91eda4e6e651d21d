"""Daemon settings: defaults, then a TOML config file, then SLUICE_* environment
variables, then command-line overrides (later wins). Unknown keys are rejected so a typo
never silently falls back to a default.

Every field is documented here; README.md lists them with their environment names.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sluice.sinks.profiles import StorageProfile

ENV_PREFIX = "SLUICE_"
#: Environment variables that start with SLUICE_ but belong to the client or tests.
CLIENT_ENV = frozenset({"SLUICE_SERVER", "SLUICE_TLS_CA", "SLUICE_TLS_CERT", "SLUICE_TLS_KEY"})
MiB = 1024 * 1024
#: gRPC worker threads streams can never take (see max_concurrent_streams).
STREAM_FREE_WORKERS = 8
_log = logging.getLogger("sluice.settings")


class SettingsError(Exception):
    """The configuration is invalid; the message names the key and the source."""


class TlsSettings(BaseModel):
    """The `[tls]` table: the gRPC port speaks TLS with these files. They are checked at
    start (readable, not expired, key matching the certificate) and re-read when they
    change, so a rotated certificate reaches new connections without a restart."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: PEM certificate (chain: the server's certificate first) served on the gRPC port.
    cert_file: Path
    #: PEM private key of cert_file, unencrypted (protect it with file permissions).
    key_file: Path
    #: PEM CA certificate(s) client certificates are verified against. With it clients
    #: may present a certificate; without it they are never asked for one.
    client_ca_file: Path | None = None
    #: true: mutual TLS only, a connection without a client certificate from
    #: client_ca_file is refused during the handshake. Needs client_ca_file.
    require_client_auth: bool = False

    @field_validator("cert_file", "key_file", "client_ca_file")
    @classmethod
    def _expand_home(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @model_validator(mode="after")
    def _client_auth_has_ca(self) -> TlsSettings:
        if self.require_client_auth and self.client_ca_file is None:
            raise ValueError("require_client_auth needs client_ca_file")
        return self


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback IPs (127.0.0.0/8, ::1); false for wildcard
    addresses (0.0.0.0, [::]) and any other name, which may be reachable from elsewhere."""
    name = host.strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: host:port the gRPC server listens on. Loopback by default; expose deliberately:
    #: a non-loopback address (0.0.0.0 included) needs `tls` or `insecure = true`.
    address: str = "127.0.0.1:7070"
    #: TLS for the gRPC port (the `[tls]` table); absent: plaintext.
    tls: TlsSettings | None = None
    #: Allow plaintext on a non-loopback address (`--insecure`): anyone who can reach
    #: the port can read the traffic and call every RPC. A warning is logged at each
    #: start. (Once callers authenticate as principals, those will be required too.)
    insecure: bool = False
    #: Folder for the job store and the default export root.
    state_dir: Path = Path(".sluice")
    #: Local destinations must resolve inside one of these folders. Empty: <state_dir>/exports.
    allowed_roots: tuple[Path, ...] = ()
    #: Local source files must resolve inside one of these folders. Empty: <state_dir>/sources.
    allowed_source_roots: tuple[Path, ...] = ()
    #: Exports that run at once; more requests wait in the queue.
    max_concurrent_exports: int = Field(default=2, ge=1, le=64)
    #: Threads serving gRPC calls. A stream (WatchExport, DiffExportRecords, health
    #: Watch, reflection) holds one while it is open; streams may take at most
    #: `max_concurrent_streams` of them, so unary calls and health checks always have
    #: at least STREAM_FREE_WORKERS left.
    grpc_max_workers: int = Field(default=160, ge=2 * STREAM_FREE_WORKERS, le=4096)
    #: Streams open at once, across all callers; one more is RESOURCE_EXHAUSTED (with
    #: RetryInfo) until another ends. At most grpc_max_workers - STREAM_FREE_WORKERS
    #: (the default is lowered to that when grpc_max_workers is small).
    max_concurrent_streams: int = Field(default=128, ge=1, le=4096)
    #: Seconds SIGTERM waits for running exports to reach a chunk boundary before exiting.
    shutdown_grace_seconds: float = Field(default=20.0, ge=0, le=3600)
    #: Rows per record batch flowing through the pipeline; bounds memory per batch.
    batch_rows: int = Field(default=65_536, ge=256, le=4_000_000)
    #: Encoded batches buffered between the encoder and the writer (backpressure depth).
    pipeline_queue_depth: int = Field(default=4, ge=1, le=64)
    #: Default chunk size target, in encoded (pre-compression) bytes.
    default_chunk_bytes: int = Field(default=64 * MiB, ge=1024)
    #: Default maximum records per chunk.
    default_chunk_rows: int = Field(default=1_000_000, ge=1)
    #: Largest chunk target a request may ask for.
    max_chunk_bytes: int = Field(default=4096 * MiB, ge=1024)
    #: Compression worker threads per export, for zstd, gzip and zip, and for Parquet's
    #: row groups (at most 3 at once); 0: one per CPU the daemon may use. Any value gives
    #: byte-identical output; it only changes how many cores compress at once. (Named
    #: for zstd, which had it first.)
    zstd_threads: int = Field(default=0, ge=0, le=64)
    #: glibc only: buffers at least this big are mapped and unmapped on their own, so
    #: freed ones leave the process instead of fragmenting the heap (server/allocator.py).
    #: 0 leaves glibc's sliding default. At most 32 MiB (glibc's own ceiling).
    malloc_mmap_threshold: int = Field(default=4 * MiB, ge=0, le=32 * MiB)
    #: Secret reference ("env:NAME" or "file:PATH") of the key for chunk content digests.
    #: Empty: a random key is created once in <state_dir>/keys/ (fine for one machine;
    #: set it explicitly when several daemons must recognise each other's content).
    content_digest_key: str = ""
    #: Named secrets requests may refer to by name (name -> "env:VAR" or "file:PATH"):
    #: age passphrases, zip passwords. Requests never carry secrets or raw references.
    secrets: dict[str, str] = Field(default_factory=dict)
    #: Named HMAC keys for the redaction `hash` action (name -> secret reference);
    #: "default" is used when a rule names none.
    hash_keys: dict[str, str] = Field(default_factory=dict)
    #: Name of the hash_keys entry that keys the key index of keyed exports (key, row and
    #: column digests, and the sealed keys tombstones are made from). Empty: the content
    #: digest key. A chain continues only under the same key, so set it (or
    #: content_digest_key) explicitly when the state folder may be lost or replaced.
    key_index_key: str = ""
    #: Named redaction policies requests may apply (name -> {"level": ..., "rules": [...]}).
    redaction_policies: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: Secret reference of the Ed25519 private key that signs manifests ("": unsigned).
    manifest_signing_key: str = ""
    #: scrypt work factor (log2 N) for age passphrase encryption.
    age_scrypt_work_factor: int = Field(default=18, ge=10, le=22)
    #: Named storage profiles (credentials by reference) for sources and destinations.
    #: See sinks/profiles.py and README "Cloud storage": name -> {kind = "s3" | "azure", ...}.
    storage_profiles: dict[str, StorageProfile] = Field(default_factory=dict)
    #: Count source rows before exporting so progress can show an ETA.
    count_source_rows: bool = True
    #: Python logging level name. Libraries that can print credentials (botocore,
    #: urllib3, the Azure SDK, ...) stay at WARNING whatever this says (server/log_setup.py).
    log_level: str = "INFO"
    #: When the job store is missing or empty, rebuild it from the manifests found under
    #: the export roots instead of refusing to start (`--recover-job-store`). A store lost
    #: from a state folder that was used before (it holds keys) is otherwise refused, so
    #: history and request_id idempotency are never dropped silently.
    recover_job_store: bool = False
    #: Where jobs are kept. Empty: the SQLite file <state_dir>/jobs.sqlite3 (one daemon).
    #: "postgresql://USER@HOST:PORT/DB": a PostgreSQL database (psycopg 3, pooled). The
    #: URL never holds a password (refused): use job_store_password_ref, or libpq's own
    #: PGPASSWORD / ~/.pgpass. Only one daemon may use a PostgreSQL store at a time until
    #: leases land; a second one is refused at start.
    job_store: str = ""
    #: Secret reference ("env:NAME" or "file:PATH") of the PostgreSQL password.
    job_store_password_ref: str = ""
    #: libpq sslmode for the PostgreSQL job store ("": libpq's default, `prefer`).
    job_store_sslmode: Literal[
        "", "disable", "allow", "prefer", "require", "verify-ca", "verify-full"
    ] = ""
    #: libpq sslrootcert: CA certificates that verify the PostgreSQL server (verify-ca/-full).
    job_store_sslrootcert: Path | None = None
    #: Connections the PostgreSQL job store pool may open (plus one held for the replica
    #: lock). Calls and exports share them; a call waits for a free one.
    job_store_pool_size: int = Field(default=8, ge=1, le=256)

    # -- Operating it: metrics, logs, a plaintext health port (README "Running on Kubernetes")
    #: host:port of the Prometheus endpoint (`--metrics-address`), path /metrics, plain
    #: HTTP. Empty: no metrics. It shows counts and timings only, never data or secrets.
    metrics_address: str = ""
    #: Label sluice_records_exported_total and sluice_bytes_stored_total by dataset. Off:
    #: every dataset is a new time series, which many datasets make expensive.
    metrics_dataset_label: bool = False
    #: "text" (one readable line per event) or "json" (`--log-format`): one JSON object
    #: per line with ts, level, logger, msg and, when known, export_id, dataset, principal.
    log_format: Literal["text", "json"] = "text"
    #: host:port of a second, always plaintext gRPC port serving only grpc.health.v1
    #: (`--health-address`), for probes that cannot speak TLS (Kubernetes' grpc probes).
    #: Empty: none. Keep it on loopback or inside the pod's network.
    health_address: str = ""
    #: URL of an OpenTelemetry collector's OTLP/HTTP endpoint (`http://HOST:4318`;
    #: `--otel-endpoint`): a trace span per RPC (health checks excluded) and per export
    #: stage. Empty: no traces.
    otel_endpoint: str = ""

    @field_validator("address")
    @classmethod
    def _address_has_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError("must be HOST:PORT")
        return value

    @field_validator("metrics_address", "health_address")
    @classmethod
    def _optional_address(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if value and (not sep or not host or not port.isdigit()):
            raise ValueError("must be HOST:PORT, or empty to turn it off")
        return value

    @field_validator("otel_endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if value and (parts.scheme not in {"http", "https"} or not parts.netloc):
            raise ValueError("must be an http:// or https:// URL, or empty to turn traces off")
        if parts.password is not None or parts.query:
            raise ValueError("must not hold credentials (user:password@ or a query string)")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @field_validator("state_dir")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("allowed_roots", "allowed_source_roots")
    @classmethod
    def _expand_homes(cls, value: tuple[Path, ...]) -> tuple[Path, ...]:
        return tuple(path.expanduser() for path in value)

    @field_validator("job_store")
    @classmethod
    def _job_store_url(cls, value: str) -> str:
        if not value:
            return value
        scheme = value.partition("://")[0].lower()
        if scheme not in {"postgresql", "postgres"}:
            raise ValueError(
                "must be empty (the SQLite file in state_dir) or postgresql://USER@HOST:PORT/DB"
            )
        try:
            parts = urlsplit(value)
            has_password = parts.password is not None or "password" in parse_qs(parts.query)
        except ValueError:
            raise ValueError("is not a valid postgresql:// URL") from None
        if has_password:
            # Never echo the URL: it holds a secret.
            raise ValueError(
                "must not hold a password: set job_store_password_ref (env:NAME or"
                " file:PATH), or use libpq's PGPASSWORD or ~/.pgpass"
            )
        return value

    @field_validator("content_digest_key", "manifest_signing_key", "job_store_password_ref")
    @classmethod
    def _is_secret_reference(cls, value: str) -> str:
        scheme, sep, target = value.partition(":")
        if value and (not sep or scheme not in {"env", "file"} or not target):
            # Never echo the value: a misplaced secret is the likeliest mistake here.
            raise ValueError("must be a secret reference, env:NAME or file:PATH")
        return value

    @field_validator("max_chunk_bytes")
    @classmethod
    def _holds_the_default_chunk(cls, value: int, info: ValidationInfo) -> int:
        # Otherwise every request relying on the default would be refused, blaming the caller.
        default = info.data.get("default_chunk_bytes")
        if default is not None and default > value:
            raise ValueError(f"must be at least default_chunk_bytes ({default})")
        return value

    @model_validator(mode="after")
    def _streams_leave_workers(self) -> Settings:
        most = self.grpc_max_workers - STREAM_FREE_WORKERS
        if "max_concurrent_streams" in self.model_fields_set and self.max_concurrent_streams > most:
            raise ValueError(
                f"max_concurrent_streams must be at most grpc_max_workers - "
                f"{STREAM_FREE_WORKERS} ({most}), so unary calls and health checks keep threads"
            )
        return self

    @model_validator(mode="after")
    def _exposed_only_with_tls(self) -> Settings:
        if self.tls is None and not self.insecure and not self.loopback_only:
            raise ValueError(
                f"address {self.address} is not a loopback address: configure [tls] "
                "or set insecure = true (--insecure) to serve plaintext to the network"
            )
        return self

    @property
    def loopback_only(self) -> bool:
        """The listener is reachable only from this machine."""
        return is_loopback_host(self.address.rpartition(":")[0])

    @property
    def stream_budget(self) -> int:
        """Streams that may be open at once (max_concurrent_streams, within the workers)."""
        return min(self.max_concurrent_streams, self.grpc_max_workers - STREAM_FREE_WORKERS)

    @property
    def export_roots(self) -> tuple[Path, ...]:
        return self.allowed_roots or (self.state_dir / "exports",)

    @property
    def source_roots(self) -> tuple[Path, ...]:
        return self.allowed_source_roots or (self.state_dir / "sources",)

    @property
    def job_store_path(self) -> Path:
        return self.state_dir / "jobs.sqlite3"

    @property
    def job_store_kind(self) -> str:
        """ "sqlite" or "postgresql": which JobStore the daemon opens."""
        return "postgresql" if self.job_store else "sqlite"


_PATH_LIST_FIELDS = ("allowed_roots", "allowed_source_roots")


def load_settings(
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge defaults, file, environment and overrides; raise SettingsError on any bad key."""
    values: dict[str, Any] = {}
    if config_file is not None:
        values.update(_read_config_file(config_file))
    values.update(_read_environment(os.environ if environ is None else environ))
    values.update({k: v for k, v in (overrides or {}).items() if v not in (None, (), [])})
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = "; ".join(_describe(err["loc"], err["msg"]) for err in exc.errors())
        raise SettingsError(f"invalid settings: {problems}") from None


def _describe(location: tuple[int | str, ...], message: str) -> str:
    """`key: message`; checks across keys name their keys in the message themselves."""
    message = message.removeprefix("Value error, ")
    return f"{'.'.join(str(p) for p in location)}: {message}" if location else message


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(raw) - set(Settings.model_fields))
    if unknown:
        raise SettingsError(f"config file {path}: unknown key(s) {', '.join(unknown)}")
    base = path.parent
    for key in ("state_dir", *_PATH_LIST_FIELDS):
        if key in raw:
            raw[key] = _relative_to(base, raw[key])
    tls = raw.get("tls")
    if isinstance(tls, dict):
        for key in ("cert_file", "key_file", "client_ca_file"):
            if key in tls:
                tls[key] = _relative_to(base, tls[key])
    return raw


def _relative_to(base: Path, value: Any) -> Any:
    """Paths in a config file are relative to the file, as a reader would expect."""
    if isinstance(value, str):
        return base / value
    if isinstance(value, list):
        return [base / item if isinstance(item, str) else item for item in value]
    return value


def _read_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in CLIENT_ENV:
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key not in Settings.model_fields:
            # Not an error: secrets referenced as "env:SLUICE_..." legitimately live here.
            _log.warning("ignoring environment variable %s: not a setting", name)
            continue
        values[key] = [p for p in raw.split(":") if p] if key in _PATH_LIST_FIELDS else raw
    return values
