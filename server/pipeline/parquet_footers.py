"""The footers of a cloud source's Parquet files, each read once per run.

A run needs a Parquet file's footer several times: planning's schema and survey (the
first file), the row count for progress, the reader's check of every file of a glob
before its first row, then each file's own read; a keyed export reads the source twice.
Each need read the footer again, one file after another: a 1,000-file cloud glob made
3,000 (keyed: 5,000) ranged requests in a row before and while its rows were read.

One ParquetFooters belongs to one resolved source, so to one run (a run plans its
source anew): a file rewritten between runs is read afresh by the next. Footers are
read by up to CLOUD_FOOTER_READERS threads at once (each waits on the network). What is
kept is bounded (KEPT_FOOTER_BYTES of memory, however many files; a footer takes ~8
times its serialized size in memory, held_bytes): past it a footer is read again when
needed, as before. The reader uses a kept footer only for an object of
the size and version (S3's ETag, Azure's etag: sinks.ranged_read.RangedObject) it was
read from; any other object, one rewritten within the run at the same size included, is
read with the footer of the bytes it opened (and checked against the plan by them), as
before the footers were kept: a footer of other bytes would put values in other columns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import IO

import pyarrow.parquet as pq

from sluice.server.pipeline.ordered_workers import in_order
from sluice.server.storage_errors import storage_errors
from sluice.sinks.ranged_read import RangedObject

#: Cloud footers read at once: each read waits on a round trip, not on the CPU.
CLOUD_FOOTER_READERS = 8
#: Bytes of memory (held_bytes) the footers one run keeps take.
KEPT_FOOTER_BYTES = 64 * 1024 * 1024
#: Bytes Arrow's FileMetaData holds per column chunk and per column beyond the footer's
#: serialized size (measured with pyarrow 26: ~0.9 KiB each, with or without statistics;
#: 200 columns x 20 row groups: 3.4 MiB in memory for 0.42 MiB serialized).
_PER_COLUMN_CHUNK = 1024


def held_bytes(metadata: pq.FileMetaData) -> int:
    """An upper estimate of the memory a read footer takes (its size on disk understates
    it ~8 times: the budget counted 84 MiB of footers that held 685 MiB)."""
    chunks = int(metadata.num_columns) * (int(metadata.num_row_groups) + 1)
    return int(metadata.serialized_size) + _PER_COLUMN_CHUNK * chunks


@dataclass(frozen=True)
class _Kept:
    """A footer and the object it was read from."""

    size: int
    #: The object's version when it was opened ("" when its store did not say).
    version: str
    metadata: pq.FileMetaData
    #: Its held_bytes, counted against the budget.
    held: int


def opened_version(handle: IO[bytes]) -> str:
    """The version of the object `handle` reads ("" when its store does not say)."""
    return handle.version if isinstance(handle, RangedObject) else ""


class ParquetFooters:
    """A run's Parquet footers by file, read on demand, each at most once while kept."""

    def __init__(self, kept_bytes: int = KEPT_FOOTER_BYTES) -> None:
        self._budget = kept_bytes
        self._lock = threading.Lock()
        self._kept: dict[str, _Kept] = {}
        self._reading: dict[str, threading.Lock] = {}
        self._bytes = 0

    def footer(self, path: str, open_file: Callable[[str], IO[bytes]]) -> pq.FileMetaData:
        """The footer of `path`, kept or read (opened with `open_file`). Raises what
        Arrow raises for a file that is not Parquet."""
        with self._lock:
            reading = self._reading.setdefault(path, threading.Lock())
        with reading:  # two threads asking for one file read it once
            with self._lock:
                kept = self._kept.get(path)
            if kept is not None:
                return kept.metadata
            with storage_errors(), open_file(path) as handle:
                return self.read(path, handle)

    def read(self, path: str, handle: IO[bytes]) -> pq.FileMetaData:
        """The footer of `path` open as `handle`: kept if it was read from this object
        (its size and version), else read from the handle (and kept while the budget
        allows). An object whose store does not say its version is always read."""
        size = handle.seek(0, 2)
        version = opened_version(handle)
        with self._lock:
            kept = self._kept.get(path)
        if kept is not None and version and (kept.size, kept.version) == (size, version):
            return kept.metadata
        # pre_buffer=False: nothing but the footer is read (one range).
        metadata = pq.ParquetFile(handle, pre_buffer=False).metadata
        with self._lock:
            old = self._kept.pop(path, None)
            if old is not None:
                self._bytes -= old.held
            held = held_bytes(metadata)
            if self._bytes + held <= self._budget:
                self._kept[path] = _Kept(size, version, metadata, held)
                self._bytes += held
        return metadata

    def each(
        self, paths: Sequence[str], open_file: Callable[[str], IO[bytes]]
    ) -> Generator[pq.FileMetaData]:
        """The footers of `paths`, in order, read by up to CLOUD_FOOTER_READERS threads."""

        def footer(path: str) -> pq.FileMetaData:
            return self.footer(path, open_file)

        workers = min(CLOUD_FOOTER_READERS, len(paths))
        yield from in_order(footer, paths, workers, "cloud-footers")
