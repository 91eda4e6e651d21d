"""ListSources: what the server's named sources hold, for callers choosing one. Names,
descriptions, marked columns and schemas; never a URI, profile, table, query or error
text that could quote them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sluice.server.errors import ErrorCode, SluiceError
from sluice.server.pipeline.encoders import arrow_schema
from sluice.server.planning.plan import named_source_schema
from sluice.server.settings import Settings

_log = logging.getLogger("sluice.sources")


@dataclass(frozen=True)
class SourceListing:
    name: str
    description: str
    time_column: str
    subject_column: str
    id_column: str
    #: (column, Arrow type) in source order; empty when the schema could not be read.
    columns: tuple[tuple[str, str], ...]
    #: Why the schema could not be read, in words that never locate the source ("").
    error: str = ""


def list_sources(settings: Settings, shown: Callable[[str], bool]) -> list[SourceListing]:
    """The named sources `shown` lets the caller see, by name; one that cannot be read is
    listed with an error."""
    listings = []
    for name, named in sorted(settings.sources.items()):
        if not shown(name):
            continue
        columns: tuple[tuple[str, str], ...] = ()
        error = ""
        try:
            schema = named_source_schema(name, settings)
            columns = tuple((f.name, str(f.type)) for f in arrow_schema(schema))
        except SluiceError as exc:
            # The message may name the file or database; the log is the operator's.
            _log.warning("named source %s cannot be read: %s", name, exc)
            state = "is unreachable" if exc.code is ErrorCode.UNAVAILABLE else "cannot be read"
            error = f"{state} ({exc.code.value}); the server log says why"
        listings.append(
            SourceListing(
                name=name,
                description=named.description,
                time_column=named.time_column,
                subject_column=named.subject_column,
                id_column=named.id_column,
                columns=columns,
                error=error,
            )
        )
    return listings
