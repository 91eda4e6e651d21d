"""The chunk files an export that never committed (cancelled or failed: no manifest) left
in its destination, removed by name from its own journal.

Such an export has no manifest to say what is its, so nothing is listed and removed by
prefix: only the chunk keys its job journalled are removed, each a chunk file name
(`part-NNNNNN.…`) inside the export's own folder. Whatever else lies under the folder
(another writer's files, a stale temporary, a tampered journal row's target) stays.
The few files it writes under fixed names before its manifest (planning.export_files)
are removed by those names too; the manifest never.
"""

from __future__ import annotations

from collections.abc import Iterable

from sluice.format.layout import CHUNK_NAME, export_folder, manifest_key
from sluice.server.errors import FailedPrecondition
from sluice.server.storage_errors import storage_errors
from sluice.sinks.base import Sink


def journalled_chunk_keys(dataset: str, export_id: str, paths: Iterable[str]) -> list[str]:
    """The keys of the journalled chunk `paths` (relative to the export folder). A path
    that is not a plain chunk file name is refused: the journal names chunks only, so
    anything else means a journal this daemon did not write, and nothing is removed."""
    folder = export_folder(dataset, export_id)
    keys = []
    for path in paths:
        if not CHUNK_NAME.fullmatch(path):
            raise FailedPrecondition(
                f"export '{export_id}': its journal names {path!r:.100}, which is no chunk "
                "file name; nothing was removed"
            )
        keys.append(f"{folder}/{path}")
    return keys


def has_manifest(sink: Sink, dataset: str, export_id: str) -> bool:
    """Whether the export's folder holds a manifest (the export committed after all)."""
    key = manifest_key(export_folder(dataset, export_id))
    with storage_errors():
        return any(info.key == key for info in sink.list(key))


def remove_chunks(sink: Sink, keys: list[str]) -> int:
    """Remove `keys` (journalled_chunk_keys); returns how many of them were stored. A key
    already gone is fine (an earlier, interrupted removal); a storage error is raised
    (translated), with the keys not yet removed left for a later call."""
    if not keys:
        return 0
    folder = keys[0].rpartition("/")[0]
    with storage_errors():
        stored = {info.key for info in sink.list(folder + "/")}
        for key in keys:
            # Removed even when the listing missed it (a store listing behind its writes).
            sink.remove(key)
    return sum(1 for key in keys if key in stored)
