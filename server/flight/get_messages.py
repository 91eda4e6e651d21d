"""A DoGet's record batches as serialized FlightData messages of a bounded size.

A stored chunk decodes to batches of its row groups (64Ki rows by default: about 20 MiB
of Arrow data for a typical table). Each message is copied twice on its way out
(into the serialized FlightData, BatchWireWriter; into grpcio's own slice) before the kernel
copies it into the socket; at 20 MiB every copy reads from and writes to main memory,
while messages of a few MiB stay in the CPU's cache from one copy to the next, and a
slow client holds less memory in the read-ahead queue. Batches are sliced (zero-copy)
to about MESSAGE_BYTES of Arrow data each; records and their order are unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

import pyarrow as pa

from sluice.flight.ipc import BatchWireWriter

#: Arrow bytes per DoGet message (well below the 64 MiB a client accepts by default).
MESSAGE_BYTES: Final = 4 << 20


def message_slices(batch: pa.RecordBatch, target_bytes: int) -> Iterator[pa.RecordBatch]:
    """`batch` in consecutive zero-copy slices of about `target_bytes` each (by its
    average row size); a batch already that small, or of one row, as it is."""
    rows = batch.num_rows
    size = batch.nbytes
    if rows <= 1 or size <= target_bytes:
        yield batch
        return
    pieces = -(-size // target_bytes)
    step = -(-rows // pieces)
    for start in range(0, rows, step):
        yield batch.slice(start, step)


def wire_messages(
    batches: Iterator[pa.RecordBatch], target_bytes: int = MESSAGE_BYTES
) -> Iterator[bytes]:
    """The serialized FlightData of `batches`, each cut to about `target_bytes`."""
    writer: BatchWireWriter | None = None
    for batch in batches:
        if writer is None:
            writer = BatchWireWriter(batch.schema)
        for piece in message_slices(batch, target_bytes):
            yield writer.wire(piece)
