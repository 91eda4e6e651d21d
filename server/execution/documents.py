"""Documents an export stores beside its chunks, before the signature and the manifest
that list them: the XML Schema of an XML export (records.xsd) and, when asked, the
report (report.html, report.pdf). They hold no records, only what the manifest shows
already, so they are stored in the clear and uncompressed. Each replaces one already
there only after a fenced lease renewal (fenced_writes): a run that lost its lease
while drawing them must not replace the ones the new holder's manifest lists."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

from sluice.format.layout import (
    REPORT_HTML_NAME,
    REPORT_PDF_NAME,
    XML_SCHEMA_NAME,
    manifest_key,
)
from sluice.format.manifest import Manifest
from sluice.format.stored_objects import DocumentEntry
from sluice.server.committed.manifests import read_manifest
from sluice.server.errors import FailedPrecondition, SluiceError, safe_summary
from sluice.server.execution.fenced_writes import store_fenced
from sluice.server.pipeline.xml_encoding import xml_schema_document
from sluice.server.planning.plan import ExportPlan
from sluice.server.report.model import ReportModel, build_report
from sluice.sinks.base import Sink, join_key

_log = logging.getLogger("sluice.export")
#: Parents a report lists at most (a chain of nightly increments can be long).
MAX_CHAIN = 100


def write_documents(
    plan: ExportPlan, sink: Sink, manifest: Manifest, renew: Callable[[], object]
) -> tuple[DocumentEntry, ...]:
    """Store this export's documents and return their manifest entries. `manifest` is
    the export's manifest without them (what the report describes); `renew` confirms
    the run's lease before a document already there is replaced (store_document)."""
    entries = []
    if plan.encoder.name == "xml":
        schema = xml_schema_document(plan.schema)
        entries.append(
            store_document(sink, plan.prefix, XML_SCHEMA_NAME, "application/xml", schema, renew)
        )
    if plan.spec.report:
        html, pdf = render_reports(build_report(manifest, _parents(sink, manifest)))
        for name, media_type, body in (
            (REPORT_HTML_NAME, "text/html", html),
            (REPORT_PDF_NAME, "application/pdf", pdf),
        ):
            entries.append(store_document(sink, plan.prefix, name, media_type, body, renew))
    return tuple(entries)


def render_reports(report: ReportModel) -> tuple[bytes, bytes]:
    """report.html and report.pdf. Every value a legal spec holds renders (report.pdf
    cuts what would not fit a page); should drawing fail all the same, the export fails
    with FAILED_PRECONDITION saying so — not INTERNAL: its chunks are stored, but an
    export asked for a report commits only with it (README "Export report"). Only the
    failure's type is said: ReportLab's messages quote the cells (a `where`'s e-mails)."""
    # Imported here: the renderers, reportlab above all (about a tenth of a second),
    # were imported by every daemon start for documents few exports ask for.
    from sluice.server.report.html_report import render_html
    from sluice.server.report.pdf_report import render_pdf

    try:
        return render_html(report), render_pdf(report)
    except Exception as exc:  # noqa: BLE001 - any failure of drawing: see docstring
        raise FailedPrecondition(
            f"the report could not be drawn ({safe_summary(exc)}); the data is stored but "
            "not committed without the report it asked for: export again without --report"
        ) from None


def _parents(sink: Sink, manifest: Manifest) -> tuple[Manifest, ...]:
    """The export's parents, nearest first, as far as their manifests can be read and
    share its creator (a chain made before parents were picked by creator may reach
    into another principal's exports: the report stops there, listing none of them)."""
    chain: list[Manifest] = []
    parent = manifest.parent_export_id
    while parent and len(chain) < MAX_CHAIN:
        try:
            found = read_manifest(sink, manifest_key(join_key(manifest.dataset, parent)))
        except SluiceError as exc:
            _log.warning("report of %s: parent %s unreadable: %s", manifest.export_id, parent, exc)
            break
        if found.created_by != manifest.created_by:
            break
        chain.append(found)
        parent = found.parent_export_id
    return tuple(chain)


def store_document(
    sink: Sink, prefix: str, name: str, media_type: str, body: bytes, renew: Callable[[], object]
) -> DocumentEntry:
    """Store one document: exclusively, or over one already there (an earlier attempt's)
    once `renew` confirmed the lease (LeaseLost otherwise: the new holder's is kept)."""
    store_fenced(sink, join_key(prefix, name), body, renew)
    return DocumentEntry(name, media_type, len(body), hashlib.sha256(body).hexdigest())
