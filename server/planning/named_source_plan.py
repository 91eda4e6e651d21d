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


def _location(source: SourceSpec) -> dict[str, str]:
    """The fields a request may not give together with a name: the named source says them."""
    return {
        "uri": source.uri,
        "profile": source.profile,
        "table": source.table,
        "query": source.query,
    }


def _how_read(source: SourceSpec) -> tuple[str, str] | None:
    """The first field the request set that changes how a named source is read (None when
    it set none), with how an error says it: a planning error on the configured location
    may be caused by it (a parquet file read as jsonl, order_by on a file)."""
    if source.format:
        return "format", f"as {source.format}"
    if source.order_by:
        return "order_by", f"ordered by {', '.join(source.order_by)}"
    if source.on_bad_rows:
        return "on_bad_rows", f"with on_bad_rows {source.on_bad_rows}"
    if source.schema:
        return "schema", "with the schema given"
    return None


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
    for field, value in _location(spec.source).items():
        if value:
            raise InvalidArgument(
                f"spec.source.{field}",
                f"the named source {quoted(name)} says where its data is; leave {field} empty",
            )
    source = replace(
        spec.source,
        uri=named.uri,
        profile=named.profile,
        table=named.table,
        query=named.query,
        format=spec.source.format or named.format,
    )
    return replace(
        spec, source=source, query=_with_defaults(spec.query, named.time_column, named.id_column)
    )


def is_configured_fault(exc: InvalidArgument, requested: SourceSpec) -> bool:
    """Whether planning a named source failed on where the server's config says it is
    (its uri, profile, table or query, which the request left empty, or the source as a
    whole), not on a field of the request that names it. Such an error quotes the location,
    so the caller gets named_source_error instead."""
    field = exc.violations[0].field
    if field == "spec.source":
        return True
    part = field.removeprefix("spec.source.").split(".")[0].split("[")[0]
    # The format too, when the request left it to the config (or to the files' names).
    location = {**_location(requested), "format": requested.format}
    return field.startswith("spec.source.") and part in location and not location[part]


def named_source_error(
    name: str, exc: InvalidArgument, requested: SourceSpec
) -> InvalidArgument | FailedPrecondition:
    """What the caller learns of a configured source that cannot be planned: which source,
    never where it is (README "Named sources"); the log says why. When the request set a
    field that changes how it is read (format, order_by, on_bad_rows, schema), that field
    is the caller's to change (INVALID_ARGUMENT on it); otherwise the source is the
    operator's to fix (FAILED_PRECONDITION). Planning errors carry no credentials (they
    are written for callers)."""
    how = _how_read(requested)
    if how is not None:
        field, described = how
        _log.info("named source %r cannot be read %s: %s", name, described, exc.message)
        return InvalidArgument(
            f"spec.source.{field}", f"named source {quoted(name)} cannot be read {described}"
        )
    _log.warning("named source %r cannot be read: %s", name, exc.message)
    if exc.violations[0].field == "spec.source.format":
        # Said in full: the fix is one setting the operator adds, and it names no location.
        return FailedPrecondition(
            f"named source {quoted(name)} cannot be read: its format is not known from its "
            f"file names or does not fit it; set format in the server config's "
            f"[sources.{name}] (the server log says why)"
        )
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
