"""The index as stored: an Arrow IPC *stream* of record batches sorted by key digest.
A stream, not Parquet, because it is read front to back without seeking, which ranged
cloud reads serve one block at a time; `pyarrow.ipc.open_stream` or
`polars.read_ipc_stream` open it without Sluice. Uncompressed: digests and ciphertext do
not compress, and skipping the codec made a diff 35% faster; digests are stored as
fixed-size binary, which needs no offsets."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import polars as pl
import pyarrow as pa
import pyarrow.ipc as pa_ipc

from sluice.format.stored_objects import KeyIndexEntry
from sluice.server.errors import DataLoss
from sluice.server.keyindex.digests import (
    COLUMN_DIGEST_BYTES,
    COLUMN_PREFIX,
    DIGEST_WIDTHS,
    KEY_DIGEST,
)
from sluice.server.storage_errors import storage_errors
from sluice.sinks.base import Sink, SinkWriter

INDEX_FORMAT = "arrow-ipc-stream"
#: Rows per record batch: what a reader holds at a time, per index.
BATCH_ROWS = 65_536


@dataclass(frozen=True)
class StoredIndex:
    path: str
    rows: int
    stored_bytes: int
    sha256: str


class _HashingFile:
    """A write-only file over a SinkWriter that counts and hashes what passes."""

    def __init__(self, writer: SinkWriter) -> None:
        self.writer = writer
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.sha256.update(view)
        self.writer.write(view)
        self.size += len(view)
        return len(view)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class IndexWriter:
    """Writes index rows, given in key-digest order, as one stored object."""

    def __init__(self, sink: Sink, key: str, schema: pl.Schema) -> None:
        self._name = key.rpartition("/")[2]
        with storage_errors():
            self._file = _HashingFile(sink.create(key, overwrite=True))
        self._schema = _stored_schema(pl.DataFrame(schema=schema).to_arrow().schema)
        self._stream = pa_ipc.new_stream(
            pa.PythonFile(self._file, mode="w"),
            self._schema,
            options=pa_ipc.IpcWriteOptions(compression=None),
        )
        self._rows = 0

    def write(self, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        table = frame.to_arrow().cast(self._schema)
        with storage_errors():
            for batch in table.to_batches(max_chunksize=BATCH_ROWS):
                self._stream.write_batch(batch)
        self._rows += frame.height

    def commit(self) -> StoredIndex:
        with storage_errors():
            self._stream.close()
            self._file.writer.commit()
        return StoredIndex(self._name, self._rows, self._file.size, self._file.sha256.hexdigest())

    def abort(self) -> None:
        self._file.writer.abort()


def _stored_schema(schema: pa.Schema) -> pa.Schema:
    """Digest columns as fixed-size binary of their width (key and row 16, column 8)."""
    fields = []
    for field in schema:
        width = DIGEST_WIDTHS.get(
            field.name, COLUMN_DIGEST_BYTES * field.name.startswith(COLUMN_PREFIX)
        )
        fields.append(field.with_type(pa.binary(width)) if width else field)
    return pa.schema(fields)


class CheckedIndexRead:
    """A read-only file over a stored index that hashes what passes through it, so that
    the bytes a comparison used are checked against the manifest listing them (whose
    signature may have been checked: an index edited beside a signed manifest would
    decide unnoticed which rows are sent and which become tombstones)."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._sha256 = hashlib.sha256()
        self._size = 0
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._sha256.update(data)
        self._size += len(data)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True

    def check(self, listed: KeyIndexEntry, name: str) -> None:
        """Read what is left and raise DataLoss unless the whole stored index is the one
        `listed` (an entry of the manifest of export `name`) describes."""
        with storage_errors():
            while self.read(BATCH_ROWS):
                pass
        if (self._size, self._sha256.hexdigest()) != (listed.stored_bytes, listed.sha256):
            raise DataLoss(
                f"the key index of {name} ({listed.path}) is not the one its manifest lists "
                f"({self._size} bytes, sha256 {self._sha256.hexdigest()[:16]}…; listed: "
                f"{listed.stored_bytes} bytes, sha256 {listed.sha256[:16]}…)"
            )


def open_index(handle: BinaryIO | CheckedIndexRead) -> SortedCursor:
    """A cursor over a stored index, in stored (key-digest) order."""
    try:
        reader = pa_ipc.open_stream(handle)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _unreadable(exc) from None
    empty = pl.from_arrow(reader.schema.empty_table())
    assert isinstance(empty, pl.DataFrame)
    return SortedCursor(_frames(reader), empty.schema)


def _frames(reader: pa_ipc.RecordBatchStreamReader) -> Iterator[pl.DataFrame]:
    try:
        for batch in reader:
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            yield frame
    except (pa.ArrowInvalid, OSError) as exc:
        raise _unreadable(exc) from None


def _unreadable(exc: Exception) -> DataLoss:
    return DataLoss(f"a key index cannot be read ({str(exc)[:200]})")


class SortedCursor:
    """Reads a key-digest-sorted stream of frames in ranges: `take_below(upper)` returns
    every remaining row whose digest is < upper, holding at most one extra batch."""

    def __init__(self, batches: Iterator[pl.DataFrame], schema: pl.Schema) -> None:
        self._batches = batches
        self.schema = schema
        self._pending = pl.DataFrame(schema=schema)
        self._done = False

    def take_below(self, upper: bytes | None) -> pl.DataFrame:
        parts: list[pl.DataFrame] = [self._pending.clear()]
        while True:
            pending = self._pending
            if pending.height:
                digests = pending.get_column(KEY_DIGEST)
                cut = pending.height if upper is None else digests.search_sorted(upper)
                assert isinstance(cut, int)
                parts.append(pending.slice(0, cut))
                self._pending = pending.slice(cut)
                if self._pending.height:
                    break
            following = None if self._done else next(self._batches, None)
            if following is None:
                self._done = True
                break
            self._pending = following
        return pl.concat(parts)
