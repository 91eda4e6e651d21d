"""Synchronous client for the Sluice ExportService."""

from __future__ import annotations

import builtins
import importlib
import itertools
import os
import random
import time
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from types import MappingProxyType, TracebackType
from typing import Any, Self, cast

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sluice.client._address import refuse_user_info
from sluice.client._convert import FINAL_STATES, state_values, to_timestamp
from sluice.client._errors import (
    DeadlineExceededError,
    ExportFailedError,
    UnavailableError,
    error_from_rpc,
)
from sluice.client._extras import install_hint
from sluice.client._history import HistoryCalls
from sluice.client._tls import ClientTls
from sluice.client._token import BearerToken, TokenStub, check_token_transport, resolve_token
from sluice.v1 import export_pb2, export_pb2_grpc

DEFAULT_ADDRESS = "127.0.0.1:7070"
#: Seconds a unary call waits for its answer unless told otherwise.
DEFAULT_TIMEOUT = 30.0
#: Environment variable naming the daemon's address when none is passed.
ADDRESS_ENV = "SLUICE_SERVER"
HEALTH_SERVICE = "sluice.v1.ExportService"

_NO_LABELS: Mapping[str, str] = MappingProxyType({})

EventCallback = Callable[[export_pb2.ExportEvent], None]

#: How long `wait()` keeps trying to reach a daemon that went away mid-wait (seconds).
RECONNECT_FOR = 300.0
_RECONNECT_FIRST_DELAY = 0.2
_RECONNECT_MAX_DELAY = 5.0


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


class ExportClient(HistoryCalls):
    """Creates, observes and controls exports on a Sluice daemon.

    `address` defaults to $SLUICE_SERVER, then 127.0.0.1:7070. `timeout` is the deadline
    in seconds of every unary call; streams (`watch`, `wait`) have none unless given.
    `tls_ca` (PEM CA verifying the server; default $SLUICE_TLS_CA, else the system's
    roots), `tls_cert` and `tls_key` (client certificate for mutual TLS; default
    $SLUICE_TLS_CERT, $SLUICE_TLS_KEY): any of them makes the channel TLS.
    `token` (default $SLUICE_TOKEN) is sent as `authorization: Bearer <token>` on every
    call, to a daemon that authenticates its callers as principals; without TLS only to
    a loopback address, unless `insecure=True` allows it in clear to any address.
    `use_environment=False` ignores those SLUICE_* variables: only the arguments count
    (for a daemon the caller started itself, such as `sluice demo`'s).
    Every gRPC failure surfaces as a `SluiceError` subclass.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        tls_ca: str | os.PathLike[str] | None = None,
        tls_cert: str | os.PathLike[str] | None = None,
        tls_key: str | os.PathLike[str] | None = None,
        token: str | None = None,
        use_environment: bool = True,
        insecure: bool = False,
    ) -> None:
        from_env = os.environ.get(ADDRESS_ENV) if use_environment else None
        refuse_user_info(address or from_env or "", "address" if address else f"${ADDRESS_ENV}")
        self.address = address or from_env or DEFAULT_ADDRESS
        self.timeout = timeout
        tls = (
            ClientTls.resolve(tls_ca, tls_cert, tls_key)
            if use_environment
            else ClientTls.given(tls_ca, tls_cert, tls_key)
        )
        #: Whether the channel speaks TLS (any of tls_ca, tls_cert, tls_key or their
        #: SLUICE_TLS_* variables given).
        self.tls = tls.enabled
        bearer = resolve_token(token if token is not None or use_environment else "")
        if bearer:
            check_token_transport(self.address, tls=tls.enabled, insecure=insecure)
        channel = (
            grpc.secure_channel(self.address, tls.channel_credentials())
            if tls.enabled
            else grpc.insecure_channel(self.address)
        )
        self._raw_channel = channel
        #: Arrow Flight and health calls take the token from an intercepted channel.
        self._channel = grpc.intercept_channel(channel, BearerToken(bearer)) if bearer else channel
        stub = export_pb2_grpc.ExportServiceStub(channel)
        self._stub: export_pb2_grpc.ExportServiceStub = (
            cast(export_pb2_grpc.ExportServiceStub, TokenStub(stub, bearer)) if bearer else stub
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._raw_channel.close()

    @contextmanager
    def _translated(self, call: str, deadline: float | None) -> Generator[None]:
        """gRPC failures of `call` (the RPC's name), made with `deadline` seconds (None:
        none), as SluiceErrors that name the call when they need to."""
        try:
            yield
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, address=self.address, call=call, deadline=deadline) from exc

    @staticmethod
    def build_spec(
        *,
        source: str | os.PathLike[str] = "",
        to: str | os.PathLike[str],
        dataset: str,
        source_format: str = "",
        format: str = "",
        compression: str = "",
        level: int | None = None,
        columns: Iterable[str] = (),
        where: str = "",
        time_column: str = "",
        since: datetime | None = None,
        until: datetime | None = None,
        ids: Iterable[str | int] = (),
        id_column: str = "",
        chunk_bytes: int | None = None,
        chunk_rows: int | None = None,
        labels: Mapping[str, str] = _NO_LABELS,
        encrypt_to: Iterable[str] = (),
        passphrase_secret: str | None = None,
        zip_password_secret: str | None = None,
        redaction: export_pb2.Redaction | None = None,
        storage_profile: str = "",
        source_profile: str = "",
        incremental: export_pb2.Incremental | None = None,
        on_bad_rows: str = "",
        source_schema: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        table: str = "",
        query: str = "",
        order_by: Iterable[str] = (),
        notify: Iterable[str] = (),
        source_name: str = "",
        template: str = "",
        report: bool = False,
    ) -> export_pb2.ExportSpec:
        """An ExportSpec from plain values; empty strings and None mean server defaults.

        Naive `since`/`until` datetimes are taken as UTC. Nothing is validated here: the
        server rejects bad input with InvalidArgumentError naming the field.

        `encrypt_to` lists age recipients ("age1..."); `passphrase_secret` (age scrypt) and
        `zip_password_secret` (AES-256 zip, with compression "zip") name secrets
        configured on the server, never the secrets themselves. None (the default) asks for
        no such encryption; "" is sent as given, a name set but empty, which the server
        refuses (InvalidArgumentError naming the field) rather than export in plaintext.

        `storage_profile` / `source_profile` name storage profiles configured on the server
        (credentials for s3:// and az:// destinations and sources), never credentials.

        `redaction` is the privacy policy, e.g. `export_pb2.Redaction(level="moderate")`;
        None exports the records as they are.

        `on_bad_rows` is "fail" (the default) or "skip": skipped rows (a CSV row with the
        wrong number of fields, a malformed NDJSON line, a database row holding a value
        the export cannot hold) are counted in the manifest.
        `source_schema` gives CSV columns a type instead of the inferred one, e.g.
        `{"zip": "str", "card": "str"}` keeps leading zeros and card numbers as text.

        Database sources (`sqlite:///ABS/PATH.db`, `duckdb:///ABS/PATH.duckdb`) read
        `table` ("NAME" or "SCHEMA.NAME") or `query` (one SELECT), in the order of the
        table's primary key or of `order_by` (required with a query).

        `notify` lists who hears of the export's end: https:// webhook URLs (signed with
        the server's webhook_secret_ref) or names of the server's [notifications.NAME].

        `source_name` names a source configured on the server (`[sources.NAME]`, see
        `sources()`) instead of `source`: the server knows where it is and how to read it.

        `template` names a server template (`templates()`: backup, analysis, sharing or
        a configured one); whatever else is given here wins over what it sets.

        `report` also stores report.html and report.pdf beside the manifest.
        """
        pairs = source_schema.items() if isinstance(source_schema, Mapping) else source_schema
        time_range = export_pb2.TimeRange(column=time_column)
        if since is not None:
            time_range.since.CopyFrom(to_timestamp(since))
        if until is not None:
            time_range.until.CopyFrom(to_timestamp(until))
        query_message = export_pb2.Query(
            columns=list(columns),
            where=where,
            ids=[str(i) for i in ids],
            id_column=id_column,
        )
        if time_column or since is not None or until is not None:
            query_message.time_range.CopyFrom(time_range)
        encryption = export_pb2.Encryption(age_recipients=list(encrypt_to))
        if passphrase_secret is not None:
            encryption.age_passphrase_ref = passphrase_secret
        if zip_password_secret is not None:
            encryption.zip_password_ref = zip_password_secret
        output = export_pb2.Output(format=format, compression=compression)
        if level is not None:
            output.level = level
        return export_pb2.ExportSpec(
            source=export_pb2.Source(
                uri=os.fspath(source),
                format=source_format,
                profile=source_profile,
                on_bad_rows=on_bad_rows,
                schema=[export_pb2.ColumnType(name=name, type=kind) for name, kind in pairs],
                table=table,
                query=query,
                order_by=list(order_by),
                name=source_name,
            ),
            query=query_message,
            output=output,
            # None leaves the optional fields unset (server default); 0 is sent and rejected.
            chunking=export_pb2.Chunking(target_bytes=chunk_bytes, max_rows=chunk_rows),
            destination=export_pb2.Destination(
                uri=os.fspath(to), dataset=dataset, profile=storage_profile
            ),
            labels=dict(labels),
            # Only when asked for: an Encryption message naming nothing is refused.
            encryption=encryption if encryption != export_pb2.Encryption() else None,
            redaction=redaction,
            incremental=incremental,
            notify=list(notify),
            template=template,
            report=report,
        )

    def create(self, spec: export_pb2.ExportSpec, *, request_id: str = "") -> export_pb2.Export:
        """Queues an export. Retrying with the same `request_id` returns the same export."""
        request = export_pb2.CreateExportRequest(spec=spec, request_id=request_id)
        with self._translated("CreateExport", self.timeout):
            return self._stub.CreateExport(request, timeout=self.timeout)

    def plan_from_text(self, text: str, *, time_zone: str = "") -> export_pb2.PlanFromTextResponse:
        """What a plain-language request ("my applications from last month as CSV") asks
        for, read by the server's deterministic parser; creates nothing. `time_zone`
        (IANA) is the zone relative ranges are meant in ("": the server's)."""
        request = export_pb2.PlanFromTextRequest(text=text, time_zone=time_zone)
        with self._translated("PlanFromText", self.timeout):
            return self._stub.PlanFromText(request, timeout=self.timeout)

    def put(
        self,
        spec: export_pb2.ExportSpec,
        records: Any,
        request_id: str = "",
        *,
        attempts: int = 5,
        on_ack: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Exports `records` (a pyarrow Table, RecordBatchReader or iterable of
        RecordBatches of one schema) through Arrow Flight DoPut: `spec` without a source.

        Returns the final PutResult: {"export_id", "committed_records", "state":
        "succeeded", "manifest_uri"}; `on_ack` sees every acknowledgement on the way.
        When the stream breaks, it puts again with the same `request_id` (a new one when
        empty) up to `attempts` times in a row, sending from the first row the daemon has
        not committed: every record is exported once. An exception raised while reading
        `records` is raised as it is, without retrying, and the export is cancelled (the
        records before it are never committed as the whole export); so is a ValueError
        for a batch whose schema is not the put's (the first batch's, or the Table's or
        reader's), naming the column, before the batch is sent. Needs the `read` extra
        (pyarrow).
        """
        flight = _flight_module("ExportClient.put")
        schema, batches = _schema_and_batches(records)
        with self._translated("DoPut", None):
            final: dict[str, Any] = flight.put(
                self._channel,
                spec,
                schema,
                batches,
                request_id or uuid.uuid4().hex,
                attempts=attempts,
                on_ack=on_ack,
            )
            return final

    def read(self, export_id: str, *, chunk: int | None = None) -> Iterator[Any]:
        """The records of a succeeded export as pyarrow RecordBatches, in chunk order
        (Arrow Flight DoGet; each chunk verified by sha256 on the daemon before any of
        its records is sent); one empty batch with the columns when there are no
        records. `chunk` reads one chunk. Needs the `read` extra (pyarrow)."""
        flight = _flight_module("ExportClient.read")
        with self._translated("DoGet", None):
            yield from flight.read(self._channel, export_id, chunk)

    def get(self, export_id: str) -> export_pb2.Export:
        with self._translated("GetExport", self.timeout):
            return self._stub.GetExport(
                export_pb2.GetExportRequest(id=export_id), timeout=self.timeout
            )

    def list_page(
        self,
        *,
        states: Iterable[str | int] = (),
        labels: Mapping[str, str] = _NO_LABELS,
        page_size: int = 50,
        page_token: str = "",
    ) -> export_pb2.ListExportsResponse:
        """One page of exports, newest first. States may be names ("failed") or enum values."""
        request = export_pb2.ListExportsRequest(
            page_size=page_size,
            page_token=page_token,
            states=state_values(states),
            labels=dict(labels),
        )
        with self._translated("ListExports", self.timeout):
            return self._stub.ListExports(request, timeout=self.timeout)

    def list(
        self,
        *,
        states: Iterable[str | int] = (),
        labels: Mapping[str, str] = _NO_LABELS,
        page_size: int = 50,
    ) -> Iterator[export_pb2.Export]:
        """All matching exports, newest first, fetching further pages as it is consumed."""
        # Materialised once: a generator argument would be empty on the second page.
        wanted = builtins.list(states)
        token = ""
        while True:
            page = self.list_page(
                states=wanted, labels=labels, page_size=page_size, page_token=token
            )
            yield from page.exports
            token = page.next_page_token
            if not token:
                return

    def watch(
        self, export_id: str, *, timeout: float | None = None
    ) -> Iterator[export_pb2.ExportEvent]:
        """A snapshot event, then live events until the `finished` event.

        Leaving the loop early cancels the stream on the server.
        """
        call = self._stub.WatchExport(export_pb2.WatchExportRequest(id=export_id), timeout=timeout)
        try:
            with self._translated("WatchExport", timeout):
                yield from call
        finally:
            # grpc-stubs leaves RpcContext.cancel unannotated.
            call.cancel()  # type: ignore[no-untyped-call]

    def cancel(self, export_id: str) -> export_pb2.Export:
        with self._translated("CancelExport", self.timeout):
            return self._stub.CancelExport(
                export_pb2.CancelExportRequest(id=export_id), timeout=self.timeout
            )

    def resume(self, export_id: str) -> export_pb2.Export:
        with self._translated("ResumeExport", self.timeout):
            return self._stub.ResumeExport(
                export_pb2.ResumeExportRequest(id=export_id), timeout=self.timeout
            )

    def wait(
        self,
        export_id: str,
        *,
        timeout: float | None = None,
        on_event: EventCallback | None = None,
        reconnect_for: float = RECONNECT_FOR,
    ) -> export_pb2.Export:
        """Blocks until the export reaches a final state and returns it.

        Raises ExportFailedError (carrying the export) when it ends FAILED or CANCELLED,
        and DeadlineExceededError (a TimeoutError) after `timeout` seconds.
        `on_event` sees every watch event, e.g. to drive a progress bar (after a
        reconnection it sees a fresh snapshot event first).

        A daemon that restarts (a rolling update, a crash) does not end the wait: once
        the export was seen, a broken stream is followed again with backoff for up to
        `reconnect_for` seconds of the daemon being unreachable. A daemon that cannot be
        reached at all on the first try fails at once (a wrong address should say so).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = _RECONNECT_FIRST_DELAY
        seen = False  # the daemon answered for this export at least once
        down_since: float | None = None
        while True:
            answered = False

            def observe(event: export_pb2.ExportEvent) -> None:
                nonlocal answered
                answered = True
                if on_event is not None:
                    on_event(event)

            try:
                final = self._follow_once(export_id, _remaining(deadline), observe)
            except DeadlineExceededError as exc:
                if exc.call != "WatchExport":
                    raise  # a call of its own that got no answer in time
                raise DeadlineExceededError(
                    f"export {export_id} did not finish within {timeout:g} s",
                    code="DEADLINE_EXCEEDED",
                ) from None
            except UnavailableError:
                if not (seen or answered):
                    raise
                final = None
            else:
                answered = True
            if final is not None:
                break
            now = time.monotonic()
            if answered:  # reached again: the outage clock and the backoff start over
                seen, down_since, delay = True, now, _RECONNECT_FIRST_DELAY
            down_since = now if down_since is None else down_since
            if now - down_since >= reconnect_for:
                raise UnavailableError(
                    f"lost the daemon at {self.address} while waiting for export {export_id}"
                    f" and it did not come back within {reconnect_for:g} s"
                )
            pause = random.uniform(delay / 2, delay)  # noqa: S311 - jitter, not cryptography
            remaining = _remaining(deadline)
            if remaining is not None and remaining <= pause:
                raise DeadlineExceededError(
                    f"export {export_id} did not finish within {timeout:g} s",
                    code="DEADLINE_EXCEEDED",
                )
            time.sleep(pause)
            delay = min(delay * 2, _RECONNECT_MAX_DELAY)
        if final.state != export_pb2.EXPORT_STATE_SUCCEEDED:
            raise ExportFailedError(final)
        return final

    def _follow_once(
        self, export_id: str, timeout: float | None, on_event: EventCallback
    ) -> export_pb2.Export | None:
        """The export once finished, following one watch stream; None when the stream
        ended or broke before it finished (the daemon going away)."""
        try:
            for event in self.watch(export_id, timeout=timeout):
                on_event(event)
                if event.WhichOneof("event") == "finished":
                    return event.finished
        except UnavailableError:
            pass  # the stream broke; whether the export finished is asked below
        # The stream closed without its closing event (e.g. daemon shutting down): only
        # trust the outcome if the export really is finished.
        current = self.get(export_id)
        return current if current.state in FINAL_STATES else None

    def sources(self) -> tuple[export_pb2.NamedSource, ...]:
        """The server's named sources: names, descriptions, marked columns, schemas."""
        with self._translated("ListSources", self.timeout):
            response = self._stub.ListSources(export_pb2.ListSourcesRequest(), timeout=self.timeout)
        return tuple(response.sources)

    def templates(self) -> tuple[export_pb2.ExportTemplate, ...]:
        """The templates `build_spec(template=...)` may name, with what each sets."""
        with self._translated("ListTemplates", self.timeout):
            response = self._stub.ListTemplates(
                export_pb2.ListTemplatesRequest(), timeout=self.timeout
            )
        return tuple(response.templates)

    def server_info(self) -> export_pb2.ServerInfo:
        """Version, supported formats, and the public key verifying signed manifests."""
        with self._translated("GetServerInfo", self.timeout):
            return self._stub.GetServerInfo(export_pb2.GetServerInfoRequest(), timeout=self.timeout)

    def create_schedule(
        self,
        name: str,
        spec: export_pb2.ExportSpec,
        *,
        cron: str,
        timezone: str = "",
        concurrency: str = "",
        catch_up: str = "",
        paused: bool = False,
    ) -> export_pb2.Schedule:
        """Runs `spec` on `cron` (five fields or @daily/@weekly/@monthly) read in the IANA
        `timezone` ("" is UTC). concurrency "forbid" (default) | "allow"; catch_up "skip"
        (default) | "latest". Each tick creates one export, once across replicas."""
        request = export_pb2.CreateScheduleRequest(
            name=name,
            spec=spec,
            cron=cron,
            timezone=timezone,
            concurrency=concurrency,
            catch_up=catch_up,
            paused=paused,
        )
        with self._translated("CreateSchedule", self.timeout):
            return self._stub.CreateSchedule(request, timeout=self.timeout)

    def list_schedules(self) -> builtins.list[export_pb2.Schedule]:
        with self._translated("ListSchedules", self.timeout):
            response = self._stub.ListSchedules(
                export_pb2.ListSchedulesRequest(), timeout=self.timeout
            )
        return builtins.list(response.schedules)

    def get_schedule(self, name: str) -> export_pb2.Schedule:
        with self._translated("GetSchedule", self.timeout):
            return self._stub.GetSchedule(
                export_pb2.GetScheduleRequest(name=name), timeout=self.timeout
            )

    def pause_schedule(self, name: str) -> export_pb2.Schedule:
        with self._translated("PauseSchedule", self.timeout):
            return self._stub.PauseSchedule(
                export_pb2.PauseScheduleRequest(name=name), timeout=self.timeout
            )

    def resume_schedule(self, name: str) -> export_pb2.Schedule:
        """Ticks from now on; those missed while paused do not run."""
        with self._translated("ResumeSchedule", self.timeout):
            return self._stub.ResumeSchedule(
                export_pb2.ResumeScheduleRequest(name=name), timeout=self.timeout
            )

    def delete_schedule(self, name: str) -> None:
        """Its exports stay."""
        with self._translated("DeleteSchedule", self.timeout):
            self._stub.DeleteSchedule(
                export_pb2.DeleteScheduleRequest(name=name), timeout=self.timeout
            )

    def trigger_schedule(self, name: str) -> export_pb2.Export:
        """Creates the schedule's export now."""
        with self._translated("TriggerSchedule", self.timeout):
            return self._stub.TriggerSchedule(
                export_pb2.TriggerScheduleRequest(name=name), timeout=self.timeout
            )

    def health(self, *, timeout: float | None = None) -> bool:
        """True when the daemon answers and reports the export service SERVING."""
        stub = health_pb2_grpc.HealthStub(self._channel)
        request = health_pb2.HealthCheckRequest(service=HEALTH_SERVICE)
        try:
            response = stub.Check(request, timeout=timeout or self.timeout)
        except grpc.RpcError:
            return False
        serving: bool = response.status == health_pb2.HealthCheckResponse.SERVING
        return serving


def _flight_module(what: str) -> Any:
    """sluice.client._flight, which needs pyarrow (the `read` extra)."""
    try:
        return importlib.import_module("sluice.client._flight")
    except ImportError as exc:
        raise ImportError(install_hint(what, "read", exc)) from None


def _schema_and_batches(records: Any) -> tuple[Any, Iterable[Any]]:
    """The schema and the batches of a Table, RecordBatchReader or batch iterable."""
    schema = getattr(records, "schema", None)
    if schema is not None and hasattr(records, "to_batches"):
        return schema, records.to_batches()
    if schema is not None:
        return schema, records  # a RecordBatchReader iterates its batches
    batches = iter(records)
    first = next(batches, None)
    if first is None:
        raise ValueError("no record batch to take the schema from; pass a Table")
    return first.schema, itertools.chain([first], batches)
