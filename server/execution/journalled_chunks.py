"""A resumed export's check that the chunks its journal names are in its storage.

The journal says which chunks are committed, and a resume continues after the last
one; the manifest is built from the journal. Chunks stored where this replica does not
see them (another pod's own volume, a folder emptied since) would otherwise be named by
a manifest of an export that SUCCEEDED without them. One listing of the export folder,
before anything is written: any journalled chunk missing fails the export with
DATA_LOSS naming them.
"""

from __future__ import annotations

from collections.abc import Sequence

from sluice.server.errors import DataLoss
from sluice.server.jobs.model import ChunkRecord
from sluice.server.storage_errors import storage_errors
from sluice.sinks.base import Sink, join_key

#: Missing chunks named in the message, at most (then how many more).
_NAMED = 5


def require_journalled_chunks(
    sink: Sink, prefix: str, chunks: Sequence[ChunkRecord], job_id: str
) -> None:
    """Raise DataLoss when a chunk of `chunks` (journalled, paths relative to the
    export folder `prefix`) is not stored in `sink`."""
    if not chunks:
        return
    with storage_errors():
        stored = {info.key for info in sink.list(join_key(prefix) + "/")}
    missing = [c.path for c in chunks if join_key(prefix, c.path) not in stored]
    if not missing:
        return
    named = ", ".join(missing[:_NAMED])
    more = f" and {len(missing) - _NAMED} more" if len(missing) > _NAMED else ""
    raise DataLoss(
        f"export {job_id}: {len(missing)} of its {len(chunks)} journalled chunks are not in "
        f"{sink.uri.rstrip('/')}/{join_key(prefix)}: {named}{more}; they were written to "
        "storage this daemon does not see (every replica must share the export roots; "
        "a pod's own volume is not shared)"
    )
