"""`flight:` source URIs are the daemon's own: Arrow Flight's DoPut makes one for the
records its caller pushes (server/flight/puts.py). A request naming one itself — through
CreateExport, a schedule, or a named source a template or request names — would hold a
run slot that nothing can feed for flight_put_idle_timeout, outside
flight_parked_puts_per_principal; so it is refused. Only the Flight layer creates such
exports, by saying so to ExportService.create (`pushed=True`), never by the URI alone."""

from __future__ import annotations

from sluice.server.errors import InvalidArgument
from sluice.server.pipeline.stream_source import STREAM_SCHEME, is_stream_uri
from sluice.server.planning.spec import ExportSpec
from sluice.server.planning.subject_package import resolved_specs
from sluice.server.settings import Settings


def refuse_pushed_source(request: ExportSpec, resolved: ExportSpec) -> None:
    """InvalidArgument when `resolved` (`request` as it will run: its template and named
    source filled in) reads a `flight:` URI."""
    if not is_stream_uri(resolved.source.uri):
        return
    raise InvalidArgument(
        "spec.source.uri" if is_stream_uri(request.source.uri) else "spec.source.name",
        f"{STREAM_SCHEME} sources are made by Arrow Flight DoPut alone; "
        "push records with DoPut, or name a file, a database or a named source",
    )


def refuse_pushed_sources(request: ExportSpec, settings: Settings) -> None:
    """refuse_pushed_source for each spec `request` runs as (a package runs several)."""
    for resolved in resolved_specs(request, settings):
        refuse_pushed_source(request, resolved)
