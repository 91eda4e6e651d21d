"""Daemon settings: defaults, then a TOML config file, then SLUICE_* environment
variables, then command-line overrides (later wins). Unknown keys are rejected so a typo
never silently falls back to a default.

Every field is documented here; README.md lists them with their environment names.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sluice.format.age import AgeFormatError, parse_recipient
from sluice.secrets import SecretRef
from sluice.server.gdpr_config import GdprConfig
from sluice.server.named_sources import NamedSource, check_source_names
from sluice.server.principals import AuthSettings
from sluice.server.redaction_policy_config import DEFAULT_HASH_KEY, check_policies
from sluice.server.replica import default_replica_id
from sluice.server.source_profiles import SourceProfile
from sluice.server.templates import TemplateConfig, check_template_names
from sluice.sinks.profiles import StorageProfile

ENV_PREFIX = "SLUICE_"
#: Environment variables that start with SLUICE_ but belong to the client or tests.
CLIENT_ENV = frozenset(
    {"SLUICE_SERVER", "SLUICE_TLS_CA", "SLUICE_TLS_CERT", "SLUICE_TLS_KEY", "SLUICE_TOKEN"}
)
MiB = 1024 * 1024
#: Default of `max_record_bytes`: an NDJSON line holding a 200 MB value fits.
MAX_RECORD_BYTES = 256 * MiB
#: Default of `pipeline_queue_bytes`: two text-heavy segments, four of the demo events.
PIPELINE_QUEUE_BYTES = 64 * MiB
#: gRPC worker threads streams can never take (see max_concurrent_streams).
STREAM_FREE_WORKERS = 8


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
    #: PEM CA certificate(s) client certificates are verified against. grpcio asks
    #: clients for a certificate only with require_client_auth = true.
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


class NotificationSettings(BaseModel):
    """One `[notifications.NAME]` table: a webhook (url) or e-mail recipients (email)
    that requests refer to by name (`--notify NAME`), so they never carry its URL,
    addresses or secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: https:// URL the JSON body is POSTed to (http:// only to a loopback host, unless
    #: allow_insecure_webhooks).
    url: str = ""
    #: Secret reference ("env:NAME" or "file:PATH") of the HMAC-SHA256 key that signs the
    #: body (Sluice-Signature header). Empty: webhook_secret_ref.
    secret_ref: str = ""
    #: E-mail recipients (sent through [smtp]); instead of url.
    email: tuple[str, ...] = ()

    @field_validator("secret_ref")
    @classmethod
    def _is_reference(cls, value: str) -> str:
        return _secret_reference(value)

    @field_validator("email")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            if not is_email_address(address):
                raise ValueError(f"'{address}' is not an e-mail address")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> NotificationSettings:
        if bool(self.url) == bool(self.email):
            raise ValueError("give either url (a webhook) or email (recipients)")
        return self


class SmtpSettings(BaseModel):
    """The `[smtp]` table: the mail server e-mail notifications go through."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    host: str
    port: int = Field(default=587, ge=1, le=65535)
    #: Upgrade the connection with STARTTLS (verifying the server's certificate) before
    #: logging in or sending. Off only for a relay on loopback.
    starttls: bool = True
    #: CA certificates (PEM) that verify the server; empty: the system's.
    ca_file: Path | None = None
    user: str = ""
    #: Secret reference of the password for `user`.
    password_ref: str = ""
    #: The From address (`from` in the file).
    sender: str = Field(alias="from")

    @field_validator("password_ref")
    @classmethod
    def _is_reference(cls, value: str) -> str:
        return _secret_reference(value)

    @field_validator("sender")
    @classmethod
    def _address(cls, value: str) -> str:
        if not is_email_address(value):
            raise ValueError("from must be an e-mail address")
        return value

    @model_validator(mode="after")
    def _safe(self) -> SmtpSettings:
        if not self.starttls and not is_loopback_host(self.host):
            raise ValueError("starttls = false is allowed only for a loopback host")
        if self.password_ref and not self.user:
            raise ValueError("password_ref needs user")
        return self


def is_email_address(text: str) -> bool:
    """A plain addr-spec: one @, something on both sides, no spaces or angle brackets."""
    local, at, domain = text.rpartition("@")
    return bool(at and local and "." in domain) and not any(c in text for c in " <>,;\r\n")


def _secret_reference(value: str) -> str:
    if value:
        # SecretRef's rule, which never echoes the value: a misplaced secret is the
        # likeliest mistake here (pasted for the reference, or after its "env:").
        SecretRef(value)
    return value


def _is_port(text: str) -> bool:
    """A TCP port: larger numbers were taken modulo 65536 by one listener, raised an
    OverflowError traceback in another."""
    return text.isascii() and text.isdigit() and int(text) <= 65535


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


#: What http.client refuses anywhere in a request's host or path.
_UNSENDABLE_URL_CHARACTER: Final = re.compile("[\x00-\x20\x7f]")


def webhook_url_problem(url: str, *, allow_insecure: bool) -> str:
    """Why `url` cannot be a webhook ("" when it can): https (http only to loopback
    unless insecure webhooks are allowed), a host, no user info."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port  # raises ValueError for a bad port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in {"https", "http"}:
        return "must be an https:// URL"
    if _UNSENDABLE_URL_CHARACTER.search(url) or not url.isascii():
        # http.client refuses them, and its error quotes the URL (a token with it); a
        # character beyond ASCII fails every delivery too (the shown form's "…" is one).
        return "must hold only ASCII without spaces or control characters (percent-encode them)"
    if not host:
        return "has no host"
    if parts.username is not None or parts.password is not None:
        return "must not hold credentials (the body is signed with a configured secret)"
    if parts.scheme == "http" and not allow_insecure and not is_loopback_host(host):
        return "must be https:// (http:// only to loopback unless allow_insecure_webhooks)"
    return ""


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: host:port the gRPC server listens on. Loopback by default; expose deliberately:
    #: a non-loopback address (0.0.0.0 included) needs `tls` and `auth.principals`, or
    #: `insecure = true`.
    address: str = "127.0.0.1:7070"
    #: TLS for the gRPC port (the `[tls]` table); absent: plaintext.
    tls: TlsSettings | None = None
    #: Allow a non-loopback address without TLS or without principals (`--insecure`):
    #: anyone who can reach the port may read the traffic or call every RPC. A warning is
    #: logged at each start.
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
    #: RetryInfo) until another ends. Health Watch streams are not counted: they have
    #: their own HEALTH_WATCH_STREAMS (server/rpc/stream_budget.py). At most
    #: grpc_max_workers - STREAM_FREE_WORKERS (the default is lowered to that when
    #: grpc_max_workers is small).
    max_concurrent_streams: int = Field(default=128, ge=1, le=4096)
    #: Seconds SIGTERM waits for running exports to reach a chunk boundary before exiting.
    shutdown_grace_seconds: float = Field(default=20.0, ge=0, le=3600)
    #: Rows per record batch flowing through the pipeline; bounds memory per batch. A
    #: redacted export reads and redacts up to twice that at once (two batches while they
    #: hold at most 131,072 rows, see pipeline.export.REDACTED_ROWS_AT_MOST).
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
    #: row groups (at most 4 at once); 0: one per CPU the daemon may use. Any value gives
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
    #: Secret references of older manifest signing keys' PUBLIC keys, PEM only
    #: (-----BEGIN PUBLIC KEY-----; bare base64 is refused: 32 bytes of it cannot be told
    #: from a signing key's private seed, and these keys are published by GetServerInfo),
    #: accepted for verification only: after a rotation, manifests and chain parents the
    #: old key signed still verify; new manifests are signed with manifest_signing_key.
    #: Never list a key that leaked or may have (start its chains again with --mode full).
    #: Needs manifest_signing_key. SLUICE_MANIFEST_VERIFICATION_KEYS takes them
    #: comma-separated.
    manifest_verification_keys: tuple[str, ...] = ()
    #: The public keys of the two settings above, as the daemon read them at start
    #: (server/execution/verifying_keys.py read_at_start); None until then.
    _verifying_keys: tuple[Any, ...] | None = PrivateAttr(default=None)
    #: scrypt work factor (log2 N) for age passphrase encryption.
    age_scrypt_work_factor: int = Field(default=18, ge=10, le=22)
    #: Named storage profiles (credentials by reference) for sources and destinations.
    #: See sinks/profiles.py and README "Cloud storage": name -> {kind = "s3" | "azure", ...}.
    storage_profiles: dict[str, StorageProfile] = Field(default_factory=dict)
    #: Count source rows before exporting so progress can show an ETA (PostgreSQL
    #: sources: the planner's estimate, read without scanning the source).
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
    #: PGPASSWORD / ~/.pgpass. Several daemons (replicas) may share one PostgreSQL store
    #: and the work in it (see job_lease_seconds).
    job_store: str = ""
    #: Secret reference ("env:NAME" or "file:PATH") of the PostgreSQL password.
    job_store_password_ref: str = ""
    #: libpq sslmode for the PostgreSQL job store ("": libpq's default, `prefer`).
    job_store_sslmode: Literal[
        "", "disable", "allow", "prefer", "require", "verify-ca", "verify-full"
    ] = ""
    #: libpq sslrootcert: CA certificates that verify the PostgreSQL server (verify-ca/-full).
    job_store_sslrootcert: Path | None = None
    #: Connections the PostgreSQL job store pool may open. Calls, exports and the lease
    #: heartbeat share them; a call waits for a free one.
    job_store_pool_size: int = Field(default=8, ge=1, le=256)
    # -- schedules (server/service/scheduler.py; README "Schedules") --
    #: Seconds between the scheduler's looks for due ticks (a tick starts at most this
    #: late) [--schedule-poll-seconds, SLUICE_SCHEDULE_POLL_SECONDS].
    schedule_poll_seconds: float = Field(default=10.0, ge=0.05, le=3600)
    #: How late a tick may still start under catch_up "skip": a tick found later than
    #: this (the daemon was down) is skipped and counted, never run late
    #: [SLUICE_SCHEDULE_START_DEADLINE_SECONDS].
    schedule_start_deadline_seconds: float = Field(default=300.0, ge=1, le=7 * 86400)

    # -- notifications (README "Notifications") ---------------------------------------
    #: Named webhooks requests may notify by name (`[notifications.NAME]`: url, secret_ref).
    notifications: dict[str, NotificationSettings] = Field(default_factory=dict)
    #: Secret reference of the key signing webhooks given by URL in a request (and named
    #: ones without their own secret_ref). Empty: requests may notify configured names only.
    webhook_secret_ref: str = ""
    #: Allow http:// webhooks to hosts other than loopback: bodies travel unencrypted.
    allow_insecure_webhooks: bool = False
    #: CA certificates (PEM) that verify https:// webhook receivers (a private CA).
    #: Empty: the system's.
    webhook_ca_file: Path | None = None
    #: Seconds after an export's end during which a failed delivery is retried; then it
    #: is given up (state "failed").
    notification_retry_seconds: float = Field(default=3600.0, ge=1, le=7 * 86400)
    #: Delay before the first retry; each next one doubles (with full jitter), up to
    #: notification_max_backoff_seconds.
    notification_backoff_seconds: float = Field(default=2.0, ge=0.01, le=3600)
    notification_max_backoff_seconds: float = Field(default=300.0, ge=0.01, le=86400)
    #: Seconds one delivery attempt may take in all (connect, send, the whole answer).
    notification_timeout_seconds: float = Field(default=10.0, ge=0.1, le=300)
    #: The mail server for e-mail notifications (`mailto:` targets, named `email` ones).
    smtp: SmtpSettings | None = None

    # -- plain-language requests (README "Asking in plain language") -------------------
    #: Name of a `secrets` entry "encrypted with a passphrase" means there.
    backup_passphrase_secret: str = ""

    # -- callers: principals, audit, limits (README "Principals, tokens and audit") ------
    #: The `[auth]` table: `[[auth.principals]]` who may call, and what each may do.
    #: Without principals every caller is anonymous and may do everything (loopback only).
    auth: AuthSettings = Field(default_factory=AuthSettings)
    #: Where the audit log goes: a file path (appended to), "stderr", or "" for none. One
    #: JSON line per state-changing call and per denied call; never a token or a secret.
    audit_log: str = ""
    #: Exports waiting in the queue, across all callers; one more CreateExport is
    #: RESOURCE_EXHAUSTED (with RetryInfo). 0: no limit.
    max_queued_exports: int = Field(default=0, ge=0, le=1_000_000)
    #: Exports one principal may have waiting in the queue. 0: no limit.
    max_queued_per_principal: int = Field(default=0, ge=0, le=1_000_000)
    #: WatchExport streams one principal may hold open at once. 0: no limit (beyond
    #: max_concurrent_streams). A call counts from its start, before its export is read.
    max_watch_streams_per_principal: int = Field(default=0, ge=0, le=4096)
    #: Exports of one principal running at once (of max_concurrent_exports); its next
    #: waits queued while others' run, so a principal's live DoPuts that trickle a batch
    #: now and then cannot hold every run slot. 0: no limit. The server's own exports
    #: (schedules, a daemon without principals) are not limited.
    max_running_per_principal: int = Field(default=0, ge=0, le=64)

    # -- replicas and leases -------------------------------------------------------------
    #: This daemon's name among the replicas sharing a job store (`--replica-id`,
    #: SLUICE_REPLICA_ID): it holds the leases of the exports it runs, and GetServerInfo
    #: and each running export name it. Default: the host name and a random suffix, new
    #: at every start (a restarted daemon does not inherit its predecessor's leases).
    replica_id: str = Field(default_factory=default_replica_id, min_length=1, max_length=128)
    #: How long a running export's lease lasts without renewal (`--job-lease-seconds`,
    #: SLUICE_JOB_LEASE_SECONDS). A heartbeat renews it several times per period; when a
    #: replica dies or stalls, another one takes its exports over once it expires. Shorter
    #: means faster failover and more job-store writes.
    job_lease_seconds: float = Field(default=30.0, ge=1.0, le=3600.0)
    #: Named source profiles for database sources (postgresql://HOST:PORT/DBNAME names one
    #: in spec.source.profile): name -> {kind = "postgresql", hosts = ["HOST:PORT"], user,
    #: password_ref, sslmode, sslrootcert, application_name, statement_timeout}. Config
    #: file only (a table). See server/source_profiles.py and README "Database sources".
    source_profiles: dict[str, SourceProfile] = Field(default_factory=dict)
    #: Named sources (`[sources.NAME]`, server/named_sources.py): requests name them with
    #: source.name (`--source-name`) instead of a URI; ListSources lists them. Config file
    #: only (a table per source has no flag or environment form).
    sources: dict[str, NamedSource] = Field(default_factory=dict)
    #: Export templates (`[templates.NAME]`, server/templates.py): partial specs requests
    #: name with `template` (`--template`), besides the built-in backup, analysis and
    #: sharing. Config file only.
    templates: dict[str, TemplateConfig] = Field(default_factory=dict)
    #: age recipients ("age1...") the built-in `backup` template encrypts to (and what
    #: "encrypted" means to `sluice ask`); without any, `--template backup` is refused
    #: unless the request brings its own encryption.
    #: SLUICE_BACKUP_RECIPIENTS takes them comma-separated.
    backup_recipients: tuple[str, ...] = ()
    #: GDPR subject packages (`[gdpr]`, server/gdpr_config.py): the controller, contact,
    #: purposes, retention and recipients texts each package's README.html shows the
    #: person. Config file only. Without it, subject packages are refused.
    gdpr: GdprConfig | None = None

    @field_validator("redaction_policies")
    @classmethod
    def _policies_readable(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        # Otherwise the first caller naming a broken policy was refused, blamed for it.
        return check_policies(value)

    @field_validator("secrets", "hash_keys")
    @classmethod
    def _named_secret_references(cls, value: dict[str, str]) -> dict[str, str]:
        # Checked here, not when a request first uses one: a pasted secret never waits
        # in the config for a caller to trip over it (and is never echoed).
        for name, reference in value.items():
            try:
                SecretRef(reference)
            except ValueError as exc:
                raise ValueError(f"entry {name[:40]!r}: {exc}") from None
        return value

    @field_validator("sources")
    @classmethod
    def _source_names(cls, value: dict[str, NamedSource]) -> dict[str, NamedSource]:
        return check_source_names(value)

    @field_validator("templates")
    @classmethod
    def _template_names(cls, value: dict[str, TemplateConfig]) -> dict[str, TemplateConfig]:
        return check_template_names(value)

    @field_validator("backup_recipients", "manifest_verification_keys", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    # Arrow Flight (arrow.flight.protocol.FlightService on the gRPC port; server/flight/).
    #: Largest message the gRPC port accepts, in bytes (a Flight record batch is one
    #: message); a bigger one is RESOURCE_EXHAUSTED. Set explicitly rather than left to
    #: gRPC's 4 MiB default, which is too small for Arrow batches.
    grpc_max_receive_message_length: int = Field(default=64 * MiB, ge=MiB, le=2047 * MiB)
    #: The HTTP/2 receive window of every stream, in bytes: what a caller may have sent
    #: that the daemon has not read yet, held in gRPC's memory and counted by no inbox.
    #: Fixed, because gRPC's own probe grew it to tens of MiB. 4 MiB is where that probe
    #: starts; over a long round trip it limits a DoPut to one window per round trip
    #: (~40 MiB/s at 100 ms), so such links may raise it, at that much memory per put.
    grpc_receive_window_bytes: int = Field(default=4 * MiB, ge=64 * 1024, le=256 * MiB)
    #: Record batches a DoPut may have read ahead of the export's pipeline; past them the
    #: put stops reading and HTTP/2 flow control (grpc_receive_window_bytes per stream)
    #: holds the client.
    flight_inflight_batches: int = Field(default=4, ge=1, le=256)
    #: Seconds a DoPut export waits for its next batch (a broken put's client may come
    #: back and resume) before it ends as cancelled. Its committed chunks stay and a
    #: DoPut with the same requestId continues it; the chunk in flight is discarded.
    flight_put_idle_timeout: float = Field(default=300.0, ge=0.5, le=7 * 86400)
    #: Broken puts of one principal whose exports may wait for a resume at once, each
    #: holding a run slot (max_concurrent_exports) for flight_put_idle_timeout. The
    #: export of a put breaking beyond them ends at once, failed RESOURCE_EXHAUSTED
    #: (resumable: a DoPut with the same requestId continues it). 0: no limit, as for
    #: max_queued_per_principal and max_watch_streams_per_principal.
    flight_parked_puts_per_principal: int = Field(default=1, ge=0, le=64)
    #: Stored chunk bytes that DoGet, GetFlightInfo and ListFlights hold in memory at
    #: once, across every call (`--flight-get-memory-bytes`, SLUICE_FLIGHT_GET_MEMORY_BYTES):
    #: a call whose chunk would pass it spools the chunk to a temporary file instead.
    flight_get_memory_bytes: int = Field(default=512 * MiB, ge=0, le=1 << 40)

    # -- Automatic retries (README "Retries") ----------------------------------------------
    #: Attempts an export gets when its runs fail transiently (storage UNAVAILABLE after
    #: the sink's own retries, a lost database connection) before it fails for good
    #: (`--max-attempts`, SLUICE_MAX_ATTEMPTS). Each retry resumes after the last
    #: journalled chunk, on any replica. 1: never retry. Permanent errors fail at once.
    max_attempts: int = Field(default=3, ge=1, le=100)
    #: Seconds before the first retry (`--retry-backoff-seconds`,
    #: SLUICE_RETRY_BACKOFF_SECONDS); each further retry waits twice as long (at most an
    #: hour), each wait drawn between half and all of that, so replicas do not retry in step.
    retry_backoff_seconds: float = Field(default=5.0, ge=0.05, le=3600.0)

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

    # -- job store polling -----------------------------------------------------------------
    #: Seconds between looks in the job store for what other replicas changed
    #: (`--job-store-poll-seconds`, SLUICE_JOB_STORE_POLL_SECONDS): queued exports to
    #: claim, expired leases to take over, and the state and progress a Watch of an
    #: export running on another replica reports. On PostgreSQL, LISTEN/NOTIFY brings
    #: new work and progress at once; polling is the fallback if a notification is lost.
    job_store_poll_seconds: float = Field(default=1.0, ge=0.05, le=3600.0)

    # Memory (issue 21).
    #: glibc only: at most this many malloc arenas (server/allocator.py), so memory freed
    #: by the many short-lived threads of an export is reused rather than left resident
    #: in arenas of its own. 0 leaves glibc's default (8 per core); the MALLOC_ARENA_MAX
    #: environment variable, when set, wins over both.
    malloc_arena_max: int = Field(default=2, ge=0, le=256)
    #: Encoded bytes waiting between the encoder and the writer, at most, beside
    #: `pipeline_queue_depth` (server/pipeline/byte_budget.py): a batch of free text
    #: encodes to tens of MB, so a queue bounded only by count held a varying, large
    #: share of the daemon's peak. One segment always moves, however big. 0: no bound.
    pipeline_queue_bytes: int = Field(default=PIPELINE_QUEUE_BYTES, ge=0, le=4096 * MiB)
    #: Longest NDJSON line read, in bytes, and the most the first 100 lines an NDJSON
    #: schema is inferred from may hold together (server/pipeline/source.py). A line
    #: without an end (a file of concatenated objects) was carried whole, copied once
    #: per block read (quadratic) until the memory ran out; past this the export fails
    #: naming the file and line (planning refuses the source). CSV rows are bounded by
    #: the parser's 8 MiB blocks instead. At least 1 MiB.
    max_record_bytes: int = Field(default=MAX_RECORD_BYTES, ge=MiB, le=4096 * MiB)

    # PostgreSQL parallel reads (issue 17).
    #: Connections one export of a PostgreSQL table reads with
    #: (`--postgres-read-connections`, SLUICE_POSTGRES_READ_CONNECTIONS), all in one
    #: exported snapshot, each reading its own ranges of the integer order key: one
    #: backend producing COPY data is the bound of a single-connection read. Rows are
    #: still handed on in key order (resume is unchanged). 1: one connection, as before.
    postgres_read_connections: int = Field(default=2, ge=1, le=16)

    @field_validator("address")
    @classmethod
    def _address_has_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not _is_port(port):
            raise ValueError("must be HOST:PORT (PORT 0-65535)")
        return value

    @field_validator("metrics_address", "health_address")
    @classmethod
    def _optional_address(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if value and (not sep or not host or not _is_port(port)):
            raise ValueError("must be HOST:PORT (PORT 0-65535), or empty to turn it off")
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

    @field_validator(
        "content_digest_key",
        "manifest_signing_key",
        "job_store_password_ref",
        "webhook_secret_ref",
    )
    @classmethod
    def _is_secret_reference(cls, value: str) -> str:
        return _secret_reference(value)

    def keep_verifying_keys(self, keys: tuple[Any, ...]) -> None:
        """Keep the verifying keys read at start (verifying_keys.read_at_start)."""
        self._verifying_keys = keys

    @property
    def kept_verifying_keys(self) -> tuple[Any, ...] | None:
        """The verifying keys read at start; None when they were not (read_at_start)."""
        return self._verifying_keys

    @field_validator("manifest_verification_keys")
    @classmethod
    def _are_secret_references(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for position, reference in enumerate(value):
            try:
                _secret_reference(reference)
            except ValueError as exc:
                raise ValueError(f"[{position}] {exc}") from None
        return value

    @model_validator(mode="after")
    def _verification_keys_beside_a_signing_key(self) -> Settings:
        if self.manifest_verification_keys and not self.manifest_signing_key:
            # Without a signing key the daemon checks no signature: they would be ignored.
            raise ValueError(
                "manifest_verification_keys needs manifest_signing_key: older keys are "
                "accepted beside the key this server signs with, never instead of it"
            )
        return self

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
        if self.insecure or self.loopback_only:
            return self
        missing = [
            what
            for what, absent in (
                ("[tls]", self.tls is None),
                ("[[auth.principals]]", not self.auth.principals),
            )
            if absent
        ]
        if missing:
            raise ValueError(
                f"address {self.address} is not a loopback address: configure "
                f"{' and '.join(missing)}, or set insecure = true (--insecure) to serve "
                "the network without them"
            )
        return self

    @field_validator("backup_recipients")
    @classmethod
    def _age_recipients(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for position, recipient in enumerate(value):
            try:
                parse_recipient(recipient)
            except AgeFormatError as exc:
                raise ValueError(f"[{position}] {exc}") from None
        return value

    @model_validator(mode="after")
    def _names_name_entries(self) -> Settings:
        """A setting naming another table's entry names one that exists: otherwise every
        request relying on it failed, blaming its caller, or it silently applied nothing
        (a principal's allow-list naming a key that is not there). Key and secret names
        are not echoed: a secret is sometimes pasted where its name belongs."""
        if self.key_index_key and self.key_index_key not in self.hash_keys:
            raise ValueError("key_index_key is not an entry of hash_keys")
        profiles = self.storage_profiles.keys() | self.source_profiles.keys()
        for name, source in self.sources.items():
            if source.profile and source.profile not in profiles:
                raise ValueError(
                    f"sources.{name}.profile: no storage_profiles or source_profiles entry "
                    f"{source.profile[:40]!r}"
                )
        for name, template in self.templates.items():
            policy = template.redaction_policy
            if policy and policy not in self.redaction_policies:
                raise ValueError(
                    f"templates.{name}.redaction_policy: no redaction_policies entry "
                    f"{policy[:40]!r}"
                )
            if template.source_name and template.source_name not in self.sources:
                raise ValueError(
                    f"templates.{name}.source_name: no sources entry {template.source_name[:40]!r}"
                )
            for what, secret in (
                ("passphrase_secret", template.passphrase_secret),
                ("zip_password_secret", template.zip_password_secret),
            ):
                if secret is not None and secret not in self.secrets:
                    raise ValueError(f"templates.{name}.{what} is not an entry of secrets")
        for principal in self.auth.principals:
            for what, named, table in (
                ("hash_keys", principal.hash_keys, self.hash_keys.keys() | {DEFAULT_HASH_KEY}),
                ("secrets", principal.secrets, self.secrets.keys()),
                ("profiles", principal.profiles, profiles),
            ):
                if set(named or ()) - table:
                    raise ValueError(
                        f"auth.principals[{principal.name}].{what} names an entry that "
                        f"{what} does not have"
                    )
        return self

    @model_validator(mode="after")
    def _backup_passphrase_is_a_secret(self) -> Settings:
        name = self.backup_passphrase_secret
        if name and name not in self.secrets:
            # Not echoed: the secret itself is sometimes pasted where its name belongs.
            raise ValueError("backup_passphrase_secret is not an entry of secrets")
        return self

    @model_validator(mode="after")
    def _notifications_deliverable(self) -> Settings:
        for name, named in self.notifications.items():
            if named.email:
                if self.smtp is None:
                    raise ValueError(f"notifications.{name} sends e-mail: configure [smtp]")
                continue
            problem = webhook_url_problem(named.url, allow_insecure=self.allow_insecure_webhooks)
            if problem:
                raise ValueError(f"notifications.{name}.url {problem}")
            if not named.secret_ref and not self.webhook_secret_ref:
                raise ValueError(
                    f"notifications.{name} needs secret_ref (or webhook_secret_ref) to sign"
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
    for key in ("webhook_ca_file", "job_store_sslrootcert"):
        if key in raw:
            raw[key] = _relative_to(base, raw[key])
    if isinstance(raw.get("audit_log"), str) and raw["audit_log"] not in {"", "stderr"}:
        raw["audit_log"] = str(base / Path(raw["audit_log"]).expanduser())
    for key in _REFERENCE_FIELDS:
        if key in raw:
            raw[key] = _relative_reference(base, raw[key])
    if isinstance(raw.get("manifest_verification_keys"), list):
        raw["manifest_verification_keys"] = [
            _relative_reference(base, v) for v in raw["manifest_verification_keys"]
        ]
    for table in ("secrets", "hash_keys"):
        if isinstance(raw.get(table), dict):
            raw[table] = {k: _relative_reference(base, v) for k, v in raw[table].items()}
    smtp = raw.get("smtp")
    if isinstance(smtp, dict) and "ca_file" in smtp:
        smtp["ca_file"] = _relative_to(base, smtp["ca_file"])
    if isinstance(smtp, dict) and "password_ref" in smtp:
        smtp["password_ref"] = _relative_reference(base, smtp["password_ref"])
    tls = raw.get("tls")
    if isinstance(tls, dict):
        for key in ("cert_file", "key_file", "client_ca_file"):
            if key in tls:
                tls[key] = _relative_to(base, tls[key])
    profiles = raw.get("source_profiles")
    for profile in profiles.values() if isinstance(profiles, dict) else ():
        # The CA file of a PostgreSQL source profile, like every path in the file.
        if isinstance(profile, dict) and isinstance(profile.get("sslrootcert"), str):
            folder = path.absolute().parent
            profile["sslrootcert"] = str(_relative_to(folder, profile["sslrootcert"]))
    auth = raw.get("auth")
    principals = auth.get("principals") if isinstance(auth, dict) else None
    for principal in principals if isinstance(principals, list) else ():
        for key in ("source_roots", "destination_roots"):
            if isinstance(principal, dict) and isinstance(principal.get(key), list):
                principal[key] = [_relative_root(base, root) for root in principal[key]]
    # Secret references inside tables (a profile's password_ref, a notification's
    # secret_ref, a principal's token_ref: every one ends in _ref), as the top-level ones:
    # they stayed relative to the working directory, unlike what README says.
    entries = [
        entry
        for table in ("source_profiles", "storage_profiles", "notifications")
        if isinstance(raw.get(table), dict)
        for entry in raw[table].values()
    ]
    entries += principals if isinstance(principals, list) else []
    for entry in entries:
        if isinstance(entry, dict):
            for key in [key for key in entry if key.endswith("_ref")]:
                entry[key] = _relative_reference(base, entry[key])
    return raw


#: Top-level settings holding a secret reference (a file: one is a path like any other).
_REFERENCE_FIELDS = (
    "content_digest_key",
    "manifest_signing_key",
    "job_store_password_ref",
    "webhook_secret_ref",
)


def _relative_reference(base: Path, value: Any) -> Any:
    """A file:/rawfile: secret reference's relative path, relative to the config file
    when a file is there. Otherwise left as written: errors show a reference's path only
    when absolute, since a relative "path" is often a secret pasted after the scheme."""
    if not isinstance(value, str):
        return value
    scheme, sep, target = value.partition(":")
    if not sep or scheme not in {"file", "rawfile"} or not target:
        return value
    beside = base / Path(target).expanduser()
    return f"{scheme}:{beside}" if beside.is_file() else value


def _relative_root(base: Path, root: Any) -> Any:
    """A principal's local root relative to the config file; URIs stay as written."""
    if not isinstance(root, str) or "://" in root:
        return root
    return str(base / Path(root).expanduser())


def _relative_to(base: Path, value: Any) -> Any:
    """Paths in a config file are relative to the file, as a reader would expect."""
    if isinstance(value, str):
        return base / value
    if isinstance(value, list):
        return [base / item if isinstance(item, str) else item for item in value]
    return value


def ignored_environment(settings: Settings, environ: Mapping[str, str] | None = None) -> list[str]:
    """SLUICE_* variables that are neither a setting, nor the client's, nor named by one
    of `settings`' secret references (`env:SLUICE_...`): most likely a misspelt setting."""
    referenced = {
        value.removeprefix("env:")
        for value in _strings(settings.model_dump())
        if value.startswith("env:")
    }
    return sorted(
        name
        for name in (os.environ if environ is None else environ)
        if name.startswith(ENV_PREFIX)
        and name not in CLIENT_ENV
        and name[len(ENV_PREFIX) :].lower() not in Settings.model_fields
        and name not in referenced
    )


#: Client variables an operator may set on the daemon expecting it to use them.
_CLIENT_ONLY_ENV: Final = ("SLUICE_TLS_CA", "SLUICE_TLS_CERT", "SLUICE_TLS_KEY", "SLUICE_TOKEN")


def client_environment(environ: Mapping[str, str] | None = None) -> list[str]:
    """The client's SLUICE_* variables set here: the daemon never reads them (its TLS is
    the [tls] table, its tokens [auth]), so a daemon given them runs without either."""
    present = os.environ if environ is None else environ
    return [name for name in _CLIENT_ONLY_ENV if name in present]


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [s for item in value for s in _strings(item)]
    return []


def _read_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in CLIENT_ENV:
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key not in Settings.model_fields:
            # Not an error: secrets referenced as "env:SLUICE_..." legitimately live here
            # (ignored_environment names the others once logging is set up).
            continue
        values[key] = [p for p in raw.split(":") if p] if key in _PATH_LIST_FIELDS else raw
    return values
