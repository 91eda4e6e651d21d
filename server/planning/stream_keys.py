"""A pushed stream (Flight DoPut) is read once, so it cannot be keyed.

A keyed export (spec.incremental.key) reads its source twice: the key pass digests every
row (its index, and a key-only increment's changes and tombstones), then the export pass
reads the rows it selected. Records pushed over DoPut arrive once and are not kept
anywhere a second pass could read them again: the export pass would rewind the put to
row 0 and ask the caller to send everything again, on every attempt. Refused at planning,
before any record is sent.
"""

from __future__ import annotations

from collections.abc import Sequence

from sluice.server.errors import InvalidArgument


def check_stream_unkeyed(key: Sequence[str]) -> None:
    """InvalidArgument naming spec.incremental.key when a pushed stream's export is keyed."""
    if key:
        raise InvalidArgument(
            "spec.incremental.key",
            "a keyed export reads its source twice (its key pass, then the export), and "
            "records pushed over Flight DoPut are read once: put them without a key (a "
            "cursor still makes increments), or export them from a file or table",
        )
