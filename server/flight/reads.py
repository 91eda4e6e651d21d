"""DoGet, GetFlightInfo, GetSchema, ListFlights and the actions: committed exports as
Arrow Flight "flights".

A flight is one succeeded export. Its endpoints are its chunks, in order, each with its
own ticket (JSON `{"export_id": ID, "chunk": N}`), so a client can fetch chunks in
parallel; the ticket `{"export_id": ID}` streams the whole export in chunk order. The
schema is that of the records as decoded from the first chunk (the manifest records
types as text): it is learnt once per export and kept.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa

from sluice.format.arrow_types import arrow_schema_of
from sluice.format.layout import export_folder
from sluice.format.manifest import Manifest
from sluice.format.stored_objects import ChunkEntry
from sluice.server.errors import FailedPrecondition, InvalidArgument, NotFound
from sluice.server.flight.chunk_memory import ChunkMemoryBudget
from sluice.server.flight.chunk_records import (
    ChunkKeys,
    NotServable,
    check_readable,
    chunk_batches,
    chunks_batches,
    parquet_chunk_schema,
)
from sluice.server.jobs.model import Job, JobFilter, JobState
from sluice.server.jobs.store import JobStore
from sluice.server.planning.authorization import require_scope
from sluice.server.planning.encryption import resolve_named_secret
from sluice.server.principals import Principal, Scope
from sluice.server.service.export_admin import ExportAdmin, ExportLocation
from sluice.server.service.export_service import ExportService
from sluice.server.settings import Settings
from sluice.sinks.base import join_key

#: Exports ListFlights describes (the newest).
LIST_FLIGHTS_LIMIT = 100
_SCHEMA_CACHE = 256
ACTIONS = {
    "get": 'The export as JSON. Body: {"export_id": ID}.',
    "cancel": 'Cancel a queued or running export (a DoPut\'s too). Body: {"export_id": ID}.',
}


@dataclass(frozen=True)
class Ticket:
    export_id: str
    #: One chunk, or None for the whole export.
    chunk: int | None = None

    def encode(self) -> bytes:
        body: dict[str, Any] = {"export_id": self.export_id}
        if self.chunk is not None:
            body["chunk"] = self.chunk
        return json.dumps(body).encode()


@dataclass(frozen=True)
class FlightView:
    """What GetFlightInfo tells of an export."""

    export_id: str
    dataset: str
    schema: pa.Schema
    records: int
    stored_bytes: int
    #: (ticket, records) per chunk, in order.
    endpoints: tuple[tuple[Ticket, int], ...]


#: A ticket, command or action body names one export (and a chunk): small, so anything
#: longer is refused before it is parsed.
MAX_EXPORT_REF_BYTES: Final = 1024


def parse_export_ref(raw: bytes, field: str, *, chunk_allowed: bool) -> Ticket:
    """A ticket or command: JSON {"export_id": ID} (and "chunk": N when allowed)."""
    if len(raw) > MAX_EXPORT_REF_BYTES:
        raise InvalidArgument(field, f"must be at most {MAX_EXPORT_REF_BYTES} bytes")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):  # [[[[... nested past the stack
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("export_id"), str):
        raise InvalidArgument(field, 'must be JSON {"export_id": "..."}')
    chunk = body.get("chunk")
    if chunk is not None and (not chunk_allowed or type(chunk) is not int or chunk < 0):
        raise InvalidArgument(field, '"chunk" must be a chunk index (0, 1, ...) of a ticket')
    if set(body) - {"export_id", "chunk"}:
        raise InvalidArgument(field, 'holds only "export_id" (and "chunk" in a ticket)')
    return Ticket(body["export_id"], chunk)


class FlightReads:
    def __init__(
        self, settings: Settings, store: JobStore, admin: ExportAdmin, service: ExportService
    ) -> None:
        self._settings = settings
        self._store = store
        self._admin = admin
        self._service = service
        self._schemas: dict[str, pa.Schema] = {}
        self._lock = threading.Lock()
        #: Chunk bytes held in memory across every call (flight_get_memory_bytes).
        self.memory = ChunkMemoryBudget(settings.flight_get_memory_bytes)

    def records(
        self, ticket: Ticket, principal: Principal
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """The schema and the batches of a ticket; every chunk is verified before any
        of its records is yielded. Errors found before the first batch are raised here."""
        export = self._open(ticket.export_id, principal)
        chunks = export.manifest.chunks
        if ticket.chunk is not None:
            if ticket.chunk >= len(chunks):
                raise NotFound(
                    f"export {ticket.export_id} has {len(chunks)} chunks; no chunk {ticket.chunk}"
                )
            chunks = (chunks[ticket.chunk],)
        known = self._known_schema(export)
        if known is not None or chunks[:1] != export.manifest.chunks[:1]:
            schema = known if known is not None else self._schema(export)
            return schema, self._conformed(self._batches(export, chunks), schema)
        # Reading the export from its first chunk: that chunk's first batch gives the
        # schema (what _schema would decode it for), so chunk 0 is read once, not twice.
        batches = self._batches(export, chunks)
        first = next(batches, None)
        if first is None or first[0] != chunks[0].index:
            schema = self._schema(export)
        else:
            schema = self._remember(export, first[1].schema)
        ahead = iter(()) if first is None else iter((first,))
        return schema, self._conformed(itertools.chain(ahead, batches), schema)

    def describe(self, export_id: str, dataset: str = "", *, principal: Principal) -> FlightView:
        export = self._open(export_id, principal)
        if dataset and dataset != export.location.dataset:
            raise NotFound(f"export {export_id} is not in dataset {dataset!r}")
        manifest = export.manifest
        return FlightView(
            export_id=export_id,
            dataset=export.location.dataset,
            schema=self._schema(export),
            records=sum(c.records for c in manifest.chunks),
            stored_bytes=sum(c.stored_bytes for c in manifest.chunks),
            endpoints=tuple((Ticket(export_id, c.index), c.records) for c in manifest.chunks),
        )

    def list(self, principal: Principal) -> Iterator[FlightView]:
        """The committed exports `principal` may see (its own; every one for admin)."""
        require_scope(principal, Scope.READ)
        owner = None if principal.admin else principal.name
        page = self._store.list(
            JobFilter(states=frozenset({JobState.SUCCEEDED}), created_by=owner),
            page_size=LIST_FLIGHTS_LIMIT,
        )
        for job in page.jobs:
            try:
                yield self.describe(job.id, principal=principal)
            except NotServable:
                continue  # not servable over Flight (format, recipients): not a flight

    def action(self, kind: str, body: bytes, principal: Principal) -> dict[str, Any]:
        if kind not in ACTIONS:
            raise InvalidArgument(
                "Action.type", f"unknown action; Sluice serves {', '.join(sorted(ACTIONS))}"
            )
        export_id = parse_export_ref(body, "Action.body", chunk_allowed=False).export_id
        job = (
            self._service.cancel(export_id, principal)
            if kind == "cancel"
            else self._service.get(export_id, principal)
        )
        return describe_job(job)

    def _open(self, export_id: str, principal: Principal) -> _OpenExport:
        """The export, when `principal` may read it (another's is NOT_FOUND, as GetExport
        answers): checked by locate before anything of it is read."""
        require_scope(principal, Scope.READ)
        location = self._admin.locate(export_id, principal=principal)
        job = self._store.get(export_id)
        manifest = self._admin.manifest(location)
        keys = self._keys(job)
        check_readable(manifest.output, keys, export_id)
        return _OpenExport(location, manifest, keys)

    def _keys(self, job: Job) -> ChunkKeys:
        encryption = job.spec.encryption
        field = "spec.encryption"
        return ChunkKeys(
            age_passphrase=resolve_named_secret(
                encryption.age_passphrase_ref, self._settings, field
            )
            if encryption.age_passphrase_ref
            else b"",
            zip_password=resolve_named_secret(encryption.zip_password_ref, self._settings, field)
            if encryption.zip_password_ref
            else b"",
        )

    def _known_schema(self, export: _OpenExport) -> pa.Schema | None:
        with self._lock:
            return self._schemas.get(export.location.export_id)

    def _remember(self, export: _OpenExport, schema: pa.Schema) -> pa.Schema:
        with self._lock:
            if len(self._schemas) >= _SCHEMA_CACHE:
                self._schemas.clear()
            self._schemas[export.location.export_id] = schema
        return schema

    def _schema(self, export: _OpenExport) -> pa.Schema:
        known = self._known_schema(export)
        if known is not None:
            return known
        schema = pa.schema([])
        if export.manifest.chunks:
            first = export.manifest.chunks[0]
            key = export.chunk_key(first.path)
            footer = parquet_chunk_schema(
                export.location.sink, key, first, export.manifest.output, self.memory
            )
            if footer is not None:
                return self._remember(export, footer)
            for batch in chunk_batches(
                export.location.sink,
                export.chunk_key(first.path),
                first,
                export.manifest.output,
                export.keys,
                self.memory,
            ):
                schema = plain(batch).schema
                break
        if not schema.names:
            # No records to learn it from: the columns the manifest records.
            schema = arrow_schema_of(export.manifest.schema)
        return self._remember(export, schema)

    def _batches(
        self, export: _OpenExport, chunks: Sequence[ChunkEntry]
    ) -> Iterator[tuple[int, pa.RecordBatch]]:
        """(chunk index, batch with dictionaries decoded) of `chunks`, in order."""
        keyed = [(export.chunk_key(chunk.path), chunk) for chunk in chunks]
        for chunk, batch in chunks_batches(
            export.location.sink, keyed, export.manifest.output, export.keys, self.memory
        ):
            yield chunk.index, plain(batch)

    @staticmethod
    def _conformed(
        batches: Iterator[tuple[int, pa.RecordBatch]], schema: pa.Schema
    ) -> Iterator[pa.RecordBatch]:
        for index, batch in batches:
            yield conform(batch, schema, index)


@dataclass(frozen=True)
class _OpenExport:
    location: ExportLocation
    manifest: Manifest
    keys: ChunkKeys

    def chunk_key(self, path: str) -> str:
        return join_key(export_folder(self.location.dataset, self.location.export_id), path)


def plain(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Dictionary columns decoded, so every Flight client reads the batch as is."""
    if not any(pa.types.is_dictionary(f.type) for f in batch.schema):
        return batch
    columns = [
        column.dictionary_decode() if pa.types.is_dictionary(column.type) else column
        for column in batch.columns
    ]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def conform(batch: pa.RecordBatch, schema: pa.Schema, chunk: int) -> pa.RecordBatch:
    """A later chunk's batch in the first chunk's schema (text formats infer per chunk)."""
    if batch.schema.equals(schema):
        return batch
    try:
        return batch.cast(schema)
    except (pa.ArrowException, ValueError):
        raise FailedPrecondition(
            f"chunk {chunk} decodes to other types than chunk 0; read the export with "
            "`sluice export read`"
        ) from None


def describe_job(job: Job) -> dict[str, Any]:
    """An export as the `get` and `cancel` actions answer."""
    return {
        "export_id": job.id,
        "state": str(job.state),
        "request_id": job.request_id,
        "manifest_uri": job.manifest_uri,
        "records": job.progress.records,
        "error": job.error.message if job.error else "",
    }
