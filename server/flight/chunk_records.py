"""One stored chunk back to Arrow record batches, for DoGet.

The stored bytes are spooled while their sha256 is computed and checked against the
manifest before anything is decrypted or decoded: a corrupt chunk is DATA_LOSS naming
it, and none of its records leaves. Passphrase-encrypted chunks (age scrypt, zip AES)
are opened with the server's own secret; chunks encrypted to age recipients cannot be
(the server holds no private key): `sluice export read --identity` reads those.

A chunk no bigger than _IN_MEMORY is read into one buffer of its manifest size while it
is hashed, and a chunk that is its own plaintext (Parquet or Arrow without outer
compression or encryption, the common case) is decoded from that buffer as is: no spool
file and no Python file calls between Arrow and the bytes. Bigger chunks are spooled,
and so is any chunk the daemon-wide ChunkMemoryBudget (flight_get_memory_bytes) has no
room for.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, cast

import polars as pl
import pyarrow as pa
import pyarrow.ipc as pa_ipc
import pyarrow.parquet as pq
import zstandard

from sluice.format.age import AgeFormatError
from sluice.format.age_reader import PassphraseIdentity, decrypt_stream
from sluice.format.manifest import OutputInfo
from sluice.format.stored_objects import ChunkEntry
from sluice.format.zip_reader import ZipFormatError, read_zip
from sluice.server.errors import DataLoss, FailedPrecondition
from sluice.server.flight.chunk_memory import UNLIMITED, ChunkMemoryBudget
from sluice.server.storage_errors import storage_errors
from sluice.sinks.base import Sink

#: Formats DoGet decodes; the others (xml, yaml, markdown) are for people and carry
#: values as text that cannot be typed back faithfully (`sluice export read` reads them).
READABLE_FORMATS = frozenset({"parquet", "arrow", "jsonl", "json", "csv"})
#: A json chunk: this line, then one record per line (",\n" between them), then _JSON_END.
_JSON_DATA = b'"data":[\n'
_JSON_END = b"\n]}\n"
_SPOOL_IN_MEMORY = 32 * 1024 * 1024
#: Chunks up to this size are read into memory (the default chunk target is 64 MiB).
_IN_MEMORY = 256 * 1024 * 1024
_COPY = 1 << 20
_READ_WITH_CLI = "read it with `sluice export read`"
_NOTHING = pa.py_buffer(b"")


@dataclass(frozen=True)
class ChunkKeys:
    """The secrets that open an export's chunks, as the server holds them."""

    age_passphrase: bytes = b""
    zip_password: bytes = b""


class NotServable(FailedPrecondition):
    """DoGet cannot serve this export's records (its format, its recipients, its
    compression): ListFlights leaves such an export out. Any other FAILED_PRECONDITION
    (the daemon's storage credentials missing, ...) is an error, never a hidden export."""


def check_readable(output: OutputInfo, keys: ChunkKeys, export_id: str) -> None:
    """NotServable (FAILED_PRECONDITION) when DoGet cannot serve this export's records."""
    if output.format not in READABLE_FORMATS:
        raise NotServable(
            f"export {export_id} is {output.format}; DoGet serves "
            f"{', '.join(sorted(READABLE_FORMATS))} exports: {_READ_WITH_CLI}"
        )
    scheme = output.encryption.scheme
    if scheme == "age" and not keys.age_passphrase:
        raise NotServable(
            f"export {export_id} is encrypted to age recipients and the server holds no "
            f"private key: {_READ_WITH_CLI} --identity KEYFILE"
        )


def chunk_batches(
    sink: Sink,
    key: str,
    chunk: ChunkEntry,
    output: OutputInfo,
    keys: ChunkKeys,
    budget: ChunkMemoryBudget = UNLIMITED,
) -> Iterator[pa.RecordBatch]:
    """The chunk's records, each batch only after the whole chunk was verified. The
    chunk is held in memory only while `budget` has room for it; else it is spooled."""
    fetched = _fetch(sink, key, chunk, budget)
    try:
        yield from fetched.batches(output, keys)
    finally:
        fetched.release()


def chunks_batches(
    sink: Sink,
    keyed: Sequence[tuple[str, ChunkEntry]],
    output: OutputInfo,
    keys: ChunkKeys,
    budget: ChunkMemoryBudget = UNLIMITED,
) -> Iterator[tuple[ChunkEntry, pa.RecordBatch]]:
    """(chunk, batch) of the (key, chunk) pairs in order, as chunk_batches gives them,
    with the next chunk fetched and verified on a thread of its own while this one's
    batches are decoded and sent: fetching and hashing a chunk (about 0.2 s per 64 MiB)
    no longer waits in line with decoding. At most two chunks are held: this one and
    the next, each within `budget` (else spooled)."""
    if not keyed:
        return
    with ThreadPoolExecutor(1, thread_name_prefix="flight-fetch") as pool:
        pending: Future[_FetchedChunk] | None = pool.submit(_fetch, sink, *keyed[0], budget)
        try:
            for position in range(len(keyed)):
                assert pending is not None
                fetched = pending.result()
                pending = None
                if position + 1 < len(keyed):
                    pending = pool.submit(_fetch, sink, *keyed[position + 1], budget)
                try:
                    for batch in fetched.batches(output, keys):
                        yield fetched.chunk, batch
                finally:
                    fetched.release()
        finally:
            # Leaving early (the call ended, a chunk failed): the chunk fetched ahead is
            # released once its fetch ends, whatever it ended with.
            if pending is not None and not pending.cancel():
                with contextlib.suppress(Exception):
                    pending.result().release()


@dataclass
class _FetchedChunk:
    """A chunk's stored bytes, verified against the manifest: in memory (`reserved`
    bytes held in the budget) or spooled to a temporary file."""

    chunk: ChunkEntry
    stored: pa.Buffer | IO[bytes]
    budget: ChunkMemoryBudget
    reserved: int = 0

    @property
    def where(self) -> str:
        return _where(self.chunk)

    def batches(self, output: OutputInfo, keys: ChunkKeys) -> Iterator[pa.RecordBatch]:
        if isinstance(self.stored, pa.Buffer):
            if _is_own_plaintext(output):
                yield from _decode_buffer(output.format, self.stored, self.where)
                return
            stored: IO[bytes] = io.BytesIO(self.stored)
        else:
            stored = self.stored
        try:
            plaintext = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
            try:
                for piece in _decompress(output, _decrypt(output, keys, stored)):
                    plaintext.write(piece)
            except (AgeFormatError, ZipFormatError, zstandard.ZstdError, zlib.error):
                plaintext.close()
                raise DataLoss(f"{self.where} cannot be decrypted or decompressed") from None
        finally:
            stored.close()
        with plaintext:
            plaintext.seek(0)
            yield from _decode(output.format, cast(IO[bytes], plaintext), self.where)

    def release(self) -> None:
        """Give the budget its bytes back and close any spool file (once)."""
        if not isinstance(self.stored, pa.Buffer):
            self.stored.close()
        self.stored = _NOTHING
        self.budget.release(self.reserved)
        self.reserved = 0


def _where(chunk: ChunkEntry) -> str:
    """How errors name a chunk."""
    return f"chunk {chunk.index} ({chunk.path})"


def _fetch(sink: Sink, key: str, chunk: ChunkEntry, budget: ChunkMemoryBudget) -> _FetchedChunk:
    """The chunk's stored bytes, verified: in memory while `budget` has room, else
    spooled (DATA_LOSS, naming the chunk, when they do not match the manifest)."""
    where = _where(chunk)
    size = chunk.stored_bytes
    if size <= _IN_MEMORY and budget.reserve(size):
        try:
            data = _fetch_verified_in_memory(sink, key, chunk, where)
        except BaseException:
            budget.release(size)
            raise
        return _FetchedChunk(chunk, data, budget, size)
    return _FetchedChunk(chunk, _fetch_verified(sink, key, chunk, where), budget)


def parquet_chunk_schema(
    sink: Sink,
    key: str,
    chunk: ChunkEntry,
    output: OutputInfo,
    budget: ChunkMemoryBudget = UNLIMITED,
) -> pa.Schema | None:
    """The Arrow schema of a verified Parquet chunk, read from its footer without
    decoding any record (GetFlightInfo and a cold ListFlights learn each export's schema
    from its first chunk): the schema its first batch has. None when the footer does not
    say that alone: another format, outer compression or encryption, a chunk too big for
    memory or for the memory budget, no rows, or dictionary columns (DoGet decodes them)."""
    if output.format != "parquet" or not _is_own_plaintext(output):
        return None
    if chunk.stored_bytes > _IN_MEMORY or not chunk.records:
        return None
    if not budget.reserve(chunk.stored_bytes):
        return None  # no room: chunk_batches learns it, through a spool file
    where = _where(chunk)
    try:
        data = _fetch_verified_in_memory(sink, key, chunk, where)
        parquet = pq.ParquetFile(pa.BufferReader(data))
        schema = parquet.schema_arrow
        rows = parquet.metadata.num_rows
    except (pa.ArrowException, OSError):
        raise DataLoss(f"{where} cannot be decoded as parquet") from None
    finally:
        budget.release(chunk.stored_bytes)
    if not rows or any(pa.types.is_dictionary(f.type) for f in schema):
        return None
    return schema


def _is_own_plaintext(output: OutputInfo) -> bool:
    """Stored bytes that _decrypt and _decompress would pass through as they are, in a
    format Arrow reads from a buffer."""
    return (
        output.format in {"parquet", "arrow"}
        and output.encryption.scheme != "age"
        and (output.internal_compression or output.compression == "none")
    )


def _fetch_verified_in_memory(sink: Sink, key: str, chunk: ChunkEntry, where: str) -> pa.Buffer:
    """The chunk's bytes in one buffer of the manifest's size, hashed while they are read
    (hashlib releases the GIL for pieces this big).

    The buffer comes from Arrow's allocator, which hands a DoGet the memory of the chunk
    before last again: a bytearray of the chunk's size was zero-filled and page-faulted
    in afresh for every chunk (the C allocator maps buffers this big on their own and
    unmaps them when freed), about half the fetch thread's CPU."""
    data = pa.allocate_buffer(chunk.stored_bytes)
    view = memoryview(data).cast("B")  # pa.Buffer's own format is signed bytes
    digest = hashlib.sha256()
    size = 0
    with storage_errors(), sink.open(key) as handle:
        while piece := handle.read(_COPY):
            digest.update(piece)
            end = size + len(piece)
            if end <= len(data):
                view[size:end] = piece
            size = end
    view.release()
    _check_digest(chunk, where, size, digest)
    return data


def _check_digest(chunk: ChunkEntry, where: str, size: int, digest: Any) -> None:
    if size != chunk.stored_bytes or digest.hexdigest() != chunk.sha256:
        raise DataLoss(
            f"{where} does not match the manifest's sha256 (tampered, truncated or swapped; "
            f"{size} bytes stored): none of its records was sent"
        )


def _fetch_verified(sink: Sink, key: str, chunk: ChunkEntry, where: str) -> IO[bytes]:
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
    digest = hashlib.sha256()
    try:
        with storage_errors(), sink.open(key) as handle:
            while piece := handle.read(_COPY):
                digest.update(piece)
                spool.write(piece)
    except BaseException:
        spool.close()
        raise
    try:
        _check_digest(chunk, where, spool.tell(), digest)
    except DataLoss:
        spool.close()
        raise
    spool.seek(0)
    return cast(IO[bytes], spool)


def _decrypt(output: OutputInfo, keys: ChunkKeys, stored: IO[bytes]) -> Iterable[bytes]:
    stream = cast(BinaryIO, stored)
    if output.encryption.scheme == "age":
        return decrypt_stream(stream, [PassphraseIdentity(keys.age_passphrase)])
    if output.compression == "zip" and not output.internal_compression:
        return read_zip(stream, keys.zip_password)
    return iter(lambda: stream.read(_COPY), b"")


def _decompress(output: OutputInfo, pieces: Iterable[bytes]) -> Iterator[bytes]:
    if output.internal_compression or output.compression in {"none", "zip"}:
        yield from pieces
        return
    if output.compression == "zstd":
        zstd = zstandard.ZstdDecompressor().decompressobj()
        for piece in pieces:
            yield zstd.decompress(piece)
        return
    if output.compression == "gzip":
        gzip = zlib.decompressobj(wbits=31)
        for piece in pieces:
            yield gzip.decompress(piece)
        return
    raise NotServable(f"unknown compression {output.compression!r}: {_READ_WITH_CLI}")


def _decode(fmt: str, plaintext: IO[bytes], where: str) -> Iterator[pa.RecordBatch]:
    try:
        if fmt == "parquet":
            yield from pq.ParquetFile(plaintext).iter_batches()
        elif fmt == "arrow":
            yield from _ipc_batches(plaintext)
        elif fmt == "jsonl":
            yield from _polars_batches(pl.read_ndjson(plaintext))
        elif fmt == "json":
            yield from _json_document_batches(plaintext.read(), where)
        else:
            yield from _polars_batches(pl.read_csv(plaintext, try_parse_dates=True))
    except (pa.ArrowException, pl.exceptions.PolarsError, OSError):
        raise DataLoss(f"{where} cannot be decoded as {fmt}") from None


def _decode_buffer(fmt: str, data: pa.Buffer, where: str) -> Iterator[pa.RecordBatch]:
    """A Parquet or Arrow chunk's batches, read by Arrow straight from memory."""
    try:
        if fmt == "parquet":
            yield from pq.ParquetFile(pa.BufferReader(data)).iter_batches()
        else:
            yield from _ipc_buffer_batches(data)
    except (pa.ArrowException, OSError):
        raise DataLoss(f"{where} cannot be decoded as {fmt}") from None


def _json_document_batches(document: bytes, where: str) -> Iterator[pa.RecordBatch]:
    """A json chunk (server.pipeline.encoders.JsonDocumentEncoder) is NDJSON inside a
    document: values escape newlines, so every line between the "data" line and the end
    is one record followed by "," (the last one by nothing)."""
    start = document.find(_JSON_DATA)
    if start < 0 or not document.endswith(_JSON_END):
        raise DataLoss(f"{where} is not a Sluice JSON document")
    body = document[start + len(_JSON_DATA) : -len(_JSON_END)]
    if body:
        yield from _polars_batches(pl.read_ndjson(io.BytesIO(body.replace(b",\n", b"\n"))))


def _ipc_batches(plaintext: IO[bytes]) -> Iterator[pa.RecordBatch]:
    yield from _ipc_buffer_batches(pa.py_buffer(plaintext.read()))


def _ipc_buffer_batches(data: pa.Buffer) -> Iterator[pa.RecordBatch]:
    try:
        reader = pa_ipc.open_file(data)
        for index in range(reader.num_record_batches):
            yield reader.get_batch(index)
    except pa.ArrowInvalid:
        yield from pa_ipc.open_stream(data)


def _polars_batches(frame: pl.DataFrame) -> Iterator[pa.RecordBatch]:
    yield from frame.to_arrow().to_batches()
