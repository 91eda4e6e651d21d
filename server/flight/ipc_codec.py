"""FlightData payloads <-> Arrow objects (sluice.flight.ipc), with a payload that is not
what the protocol says an INVALID_ARGUMENT naming FlightData."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.ipc as pa_ipc

from sluice.flight import ipc
from sluice.flight.ipc import Payload, PayloadView, batch_payload, schema_payload
from sluice.server.errors import InvalidArgument

__all__ = [
    "AnyPayload",
    "BatchReader",
    "Payload",
    "batch_payload",
    "read_batch",
    "read_message",
    "read_schema",
    "schema_payload",
]
_FIELD = "FlightData"
#: A payload built here (bytes) or received (views of the FlightData's bytes).
AnyPayload = Payload | PayloadView


def read_message(payload: AnyPayload) -> pa_ipc.Message:
    try:
        return ipc.read_message(payload)
    except ipc.FlightPayloadError as exc:
        raise InvalidArgument(_FIELD, str(exc)) from None


def read_schema(payload: AnyPayload) -> pa.Schema:
    try:
        return ipc.read_schema(payload)
    except ipc.FlightPayloadError as exc:
        raise InvalidArgument(_FIELD, f"{exc} (a DoPut starts with its schema)") from None


def read_batch(message: pa_ipc.Message, schema: pa.Schema, which: str = "") -> pa.RecordBatch:
    """`which` names the batch in the refusal ("batch 3 of this DoPut")."""
    return BatchReader(schema).read(message, which)


class BatchReader:
    """A stream's batches (sluice.flight.ipc.BatchReader: its layout found once)."""

    def __init__(self, schema: pa.Schema) -> None:
        self._reader = ipc.BatchReader(schema)

    def read(self, message: pa_ipc.Message, which: str = "") -> pa.RecordBatch:
        """`which` names the batch in the refusal ("batch 3 of this DoPut")."""
        try:
            return self._reader.read(message)
        except ipc.FlightPayloadError as exc:
            raise InvalidArgument(_FIELD, f"{which}: {exc}" if which else str(exc)) from None
