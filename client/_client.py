"""Synchronous client for the Sluice ExportService."""

from __future__ import annotations

import builtins
import importlib
import itertools
import os
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from types import MappingProxyType, TracebackType
from typing import Any, Self

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sluice.client._convert import FINAL_STATES, state_values, to_timestamp
from sluice.client._errors import ExportFailedError, UnavailableError, error_from_rpc
from sluice.client._extras import install_hint
from sluice.client._history import HistoryCalls
from sluice.client._tls import ClientTls
from sluice.v1 import export_pb2, export_pb2_grpc

DEFAULT_ADDRESS = "127.0.0.1:7070"
#: Environment variable naming the daemon's address when none is passed.
ADDRESS_ENV = "SLUICE_SERVER"
HEALTH_SERVICE = "sluice.v1.ExportService"

_NO_LABELS: Mapping[str, str] = MappingProxyType({})

EventCallback = Callable[[export_pb2.ExportEvent], None]


class ExportClient(HistoryCalls):
    """Creates, observes and controls exports on a Sluice daemon.

    `address` defaults to $SLUICE_SERVER, then 127.0.0.1:7070. `timeout` is the deadline
    in seconds of every unary call; streams (`watch`, `wait`) have none unless given.
    `tls_ca` (PEM CA verifying the server; default $SLUICE_TLS_CA, else the system's
    roots), `tls_cert` and `tls_key` (client certificate for mutual TLS; default
    $SLUICE_TLS_CERT, $SLUICE_TLS_KEY): any of them makes the channel TLS.
    Every gRPC failure surfaces as a `SluiceError` subclass.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        timeout: float = 30.0,
        tls_ca: str | os.PathLike[str] | None = None,
        tls_cert: str | os.PathLike[str] | None = None,
        tls_key: str | os.PathLike[str] | None = None,
    ) -> None:
        self.address = address or os.environ.get(ADDRESS_ENV) or DEFAULT_ADDRESS
        self.timeout = timeout
        tls = ClientTls.resolve(tls_ca, tls_cert, tls_key)
        #: Whether the channel speaks TLS (any of tls_ca, tls_cert, tls_key or their
        #: SLUICE_TLS_* variables given).
        self.tls = tls.enabled
        self._channel = (
            grpc.secure_channel(self.address, tls.channel_credentials())
            if tls.enabled
            else grpc.insecure_channel(self.address)
        )
        self._stub = export_pb2_grpc.ExportServiceStub(self._channel)

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
        self._channel.close()

    @contextmanager
    def _translated(self) -> Generator[None]:
        try:
            yield
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, address=self.address) from exc

    @staticmethod
    def build_spec(
        *,
        source: str | os.PathLike[str],
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
        passphrase_secret: str = "",
        zip_password_secret: str = "",
        redaction: export_pb2.Redaction | None = None,
        storage_profile: str = "",
        source_profile: str = "",
        incremental: export_pb2.Incremental | None = None,
        on_bad_rows: str = "",
        source_schema: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        table: str = "",
        query: str = "",
        order_by: Iterable[str] = (),
    ) -> export_pb2.ExportSpec:
        """An ExportSpec from plain values; empty strings and None mean server defaults.

        Naive `since`/`until` datetimes are taken as UTC. Nothing is validated here: the
        server rejects bad input with InvalidArgumentError naming the field.

        `encrypt_to` lists age recipients ("age1..."); `passphrase_secret` (age scrypt) and
        `zip_password_secret` (AES-256 zip, with compression "zip") name secrets
        configured on the server, never the secrets themselves.

        `storage_profile` / `source_profile` name storage profiles configured on the server
        (credentials for s3:// and az:// destinations and sources), never credentials.

        `redaction` is the privacy policy, e.g. `export_pb2.Redaction(level="moderate")`;
        None exports the records as they are.

        `on_bad_rows` is "fail" (the default) or "skip": skipped rows (a CSV row with the
        wrong number of fields, a malformed NDJSON line) are counted in the manifest.
        `source_schema` gives CSV columns a type instead of the inferred one, e.g.
        `{"zip": "str", "card": "str"}` keeps leading zeros and card numbers as text.

        Database sources (`sqlite:///ABS/PATH.db`, `duckdb:///ABS/PATH.duckdb`) read
        `table` ("NAME" or "SCHEMA.NAME") or `query` (one SELECT), in the order of the
        table's primary key or of `order_by` (required with a query).
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
            ),
            query=query_message,
            output=output,
            # None leaves the optional fields unset (server default); 0 is sent and rejected.
            chunking=export_pb2.Chunking(target_bytes=chunk_bytes, max_rows=chunk_rows),
            destination=export_pb2.Destination(
                uri=os.fspath(to), dataset=dataset, profile=storage_profile
            ),
            labels=dict(labels),
            encryption=export_pb2.Encryption(
                age_recipients=list(encrypt_to),
                age_passphrase_ref=passphrase_secret,
                zip_password_ref=zip_password_secret,
            ),
            redaction=redaction,
            incremental=incremental,
        )

    def create(self, spec: export_pb2.ExportSpec, *, request_id: str = "") -> export_pb2.Export:
        """Queues an export. Retrying with the same `request_id` returns the same export."""
        request = export_pb2.CreateExportRequest(spec=spec, request_id=request_id)
        with self._translated():
            return self._stub.CreateExport(request, timeout=self.timeout)

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
        not committed: every record is exported once. Needs the `read` extra (pyarrow).
        """
        flight = _flight_module("ExportClient.put")
        schema, batches = _schema_and_batches(records)
        with self._translated():
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
        its records is sent). `chunk` reads one chunk. Needs the `read` extra (pyarrow)."""
        flight = _flight_module("ExportClient.read")
        with self._translated():
            yield from flight.read(self._channel, export_id, chunk)

    def get(self, export_id: str) -> export_pb2.Export:
        with self._translated():
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
        with self._translated():
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
            with self._translated():
                yield from call
        finally:
            # grpc-stubs leaves RpcContext.cancel unannotated.
            call.cancel()  # type: ignore[no-untyped-call]

    def cancel(self, export_id: str) -> export_pb2.Export:
        with self._translated():
            return self._stub.CancelExport(
                export_pb2.CancelExportRequest(id=export_id), timeout=self.timeout
            )

    def resume(self, export_id: str) -> export_pb2.Export:
        with self._translated():
            return self._stub.ResumeExport(
                export_pb2.ResumeExportRequest(id=export_id), timeout=self.timeout
            )

    def wait(
        self,
        export_id: str,
        *,
        timeout: float | None = None,
        on_event: EventCallback | None = None,
    ) -> export_pb2.Export:
        """Blocks until the export reaches a final state and returns it.

        Raises ExportFailedError (carrying the export) when it ends FAILED or CANCELLED,
        and DeadlineExceededError (a TimeoutError) after `timeout` seconds.
        `on_event` sees every watch event, e.g. to drive a progress bar.
        """
        final: export_pb2.Export | None = None
        for event in self.watch(export_id, timeout=timeout):
            if on_event is not None:
                on_event(event)
            if event.WhichOneof("event") == "finished":
                final = event.finished
                break
        if final is None:
            # The stream closed without its closing event (e.g. daemon shutting down):
            # only trust the outcome if the export really is finished.
            final = self.get(export_id)
            if final.state not in FINAL_STATES:
                raise UnavailableError(f"the watch stream ended before export {export_id} finished")
        if final.state != export_pb2.EXPORT_STATE_SUCCEEDED:
            raise ExportFailedError(final)
        return final

    def server_info(self) -> export_pb2.ServerInfo:
        """Version, supported formats, and the public key verifying signed manifests."""
        with self._translated():
            return self._stub.GetServerInfo(export_pb2.GetServerInfoRequest(), timeout=self.timeout)

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
