"""Documents an export stores beside its chunks, before the signature and the manifest
that list them: the XML Schema of an XML export (records.xsd). They hold no records, only
what the manifest shows already (column names and types), so they are stored in the clear
and uncompressed, for any XML tool to find next to the chunks."""

from __future__ import annotations

import hashlib

from sluice.format.layout import XML_SCHEMA_NAME
from sluice.format.stored_objects import DocumentEntry
from sluice.server.pipeline.xml_encoding import xml_schema_document
from sluice.server.planning.plan import ExportPlan
from sluice.server.storage_errors import storage_errors
from sluice.sinks.base import Sink, join_key


def write_documents(plan: ExportPlan, sink: Sink) -> tuple[DocumentEntry, ...]:
    """Store this export's documents and return their manifest entries. Their bytes
    depend only on the plan, so writing them again (a retried commit) changes nothing."""
    if plan.encoder.name != "xml":
        return ()
    return (
        _store(
            sink, plan.prefix, XML_SCHEMA_NAME, "application/xml", xml_schema_document(plan.schema)
        ),
    )


def _store(sink: Sink, prefix: str, name: str, media_type: str, body: bytes) -> DocumentEntry:
    with storage_errors():
        writer = sink.create(join_key(prefix, name), overwrite=True)
        try:
            writer.write(body)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
    return DocumentEntry(name, media_type, len(body), hashlib.sha256(body).hexdigest())
