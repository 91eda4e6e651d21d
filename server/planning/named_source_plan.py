"""A request's `source.name` resolved against the server's named sources: the spec the
rest of planning sees has the named source's uri, profile, table and query, and its
columns as defaults for what the request leaves open (the time range's column, the
column ids select by)."""

from __future__ import annotations

import logging
from dataclasses import replace

from sluice.server.errors import FailedPrecondition, InvalidArgument, quoted
from sluice.server.planning.spec import ExportSpec, QuerySpec, SourceSpec
from sluice.server.settings import Settings

_log = logging.getLogger(__name__)

#: Fields a request may not give together with a name: the named source says them.
_LOCATION_FIELDS = ("uri", "profile", "table", "query")


def with_named_source(spec: ExportSpec, settings: Settings) -> ExportSpec:
    """`spec` with its named source filled in; the spec itself when it names none."""
    name = spec.source.name
    if not name:
        return spec
    named = settings.sources.get(name)
    if named is None:
        known = ", ".join(sorted(settings.sources)) or "none are configured"
        raise InvalidArgument(
            "spec.source.name", f"no source named {quoted(name)} (known: {known})"
        )
    for field in _LOCATION_FIELDS:
        if getattr(spec.source, field):
            raise InvalidArgument(
                f"spec.source.{field}",
                f"the named source {quoted(name)} says where its data is; leave {field} empty",
            )
    source = replace(
        spec.source, uri=named.uri, profile=named.profile, table=named.table, query=named.query
    )
    return replace(
        spec, source=source, query=_with_defaults(spec.query, named.time_column, named.id_column)
    )


def is_configured_fault(exc: InvalidArgument, requested: SourceSpec) -> bool:
    """Whether planning a named source failed on what the server's config says of it (its
    uri, profile, table or query, which the request left empty), not on the request."""
    field = exc.violations[0].field
    if field == "spec.source":
        return True
    part = field.removeprefix("spec.source.").split(".")[0].split("[")[0]
    return (
        field.startswith("spec.source.")
        and part in _LOCATION_FIELDS
        and not getattr(requested, part)
    )


def unreadable_named_source(name: str, exc: InvalidArgument) -> FailedPrecondition:
    """A configured source that cannot be planned is the operator's to fix: the caller
    learns which source, never where it is (README "Named sources"); the log says why.
    Planning errors carry no credentials (they are written for callers)."""
    _log.warning("named source %r cannot be read: %s", name, exc.message)
    return FailedPrecondition(
        f"named source {quoted(name)} cannot be read; the server log says why"
    )


def _with_defaults(query: QuerySpec, time_column: str, id_column: str) -> QuerySpec:
    time_range = query.time_range
    if time_range is not None and not time_range.column and time_column:
        time_range = replace(time_range, column=time_column)
    # "id" is also what an unset id_column arrives as: the source's own column wins then.
    ids_by = id_column if query.id_column in {"", "id"} and id_column else query.id_column
    return replace(query, time_range=time_range, id_column=ids_by)
