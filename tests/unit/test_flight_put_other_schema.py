"""A DoPut again with a requestId's export and another schema (server.flight.puts): the
"the stream's schema differs" wording answers only the request-id conflict, never
another refusal of the same request. Real export service and SQLite job store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pytest

from sluice.server.errors import InvalidArgument
from sluice.server.execution.executor import ExecutionContext
from sluice.server.flight.ipc_codec import batch_payload, schema_payload
from sluice.server.flight.puts import FlightPuts, PutMessage, PutRequest
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.pipeline.stream_source import INBOXES
from sluice.server.planning.spec import DestinationSpec, ExportSpec, SourceSpec
from sluice.server.principals import ANONYMOUS
from sluice.server.service.events import EventHub
from sluice.server.service.export_service import ExportService
from sluice.server.service.runner import ExportRunner
from sluice.server.settings import load_settings
from sluice.sinks import open_sink

EXPORTS = "/srv/exports"
SPEC = replace(
    ExportSpec(source=SourceSpec(""), destination=DestinationSpec(EXPORTS, "events")),
    template="nightly",
)


def _puts(tmp_path: Path, store: SQLiteJobStore, config: str) -> FlightPuts:
    file = tmp_path / "sluice.toml"
    file.write_text(config)
    settings = load_settings(
        file, {"state_dir": tmp_path / "state", "allowed_roots": [EXPORTS]}, environ={}
    )
    hub = EventHub()
    context = ExecutionContext(settings, store, hub, open_sink, b"k" * 32, "key-id", b"i" * 32)
    service = ExportService(settings, store, ExportRunner(context), hub)  # no worker runs it
    return FlightPuts(settings, store, service, hub)


def _put(puts: FlightPuts, schema: pa.Schema) -> Iterator[dict[str, object]]:
    values = pa.array([1, 2, 3]).cast(schema.field(0).type)
    batch = pa.record_batch([values], schema=schema)
    first = PutMessage(schema_payload(schema))
    rest = iter([PutMessage(batch_payload(batch))])
    return puts.put(PutRequest(SPEC, "put-t"), first, rest, lambda: True, ANONYMOUS)


def test_another_refusal_is_not_reworded_as_another_schema(tmp_path: Path) -> None:
    store = SQLiteJobStore(":memory:")
    first = _puts(tmp_path, store, "[templates.nightly]\nformat = 'parquet'\n")
    export_id = next(_put(first, pa.schema([("id", pa.int64())])))["export_id"]
    assert isinstance(export_id, str)
    INBOXES.discard(export_id)
    # The template is gone from the config when the put comes again, with another schema.
    again = _puts(tmp_path, store, "")
    with pytest.raises(InvalidArgument) as refused:
        next(_put(again, pa.schema([("id", pa.string())])))
    assert refused.value.violations[0].field == "spec.template", str(refused.value)
