"""The Arrow schema of a Parquet or Arrow IPC source file, read from its footer (Parquet)
or its schema message (IPC) and never from its rows: what checks every file of a glob
can afford."""

from __future__ import annotations

from typing import IO

import pyarrow as pa
import pyarrow.ipc as pa_ipc
import pyarrow.parquet as pq

#: The source formats whose files say their schema without their rows being read.
FOOTER_FORMATS = frozenset({"parquet", "ipc"})
#: Threads reading a glob's local footers at once: each read waits on the disk or page
#: cache more than on the GIL, and a few leave a 2-core machine's other work room.
FOOTER_READERS = 4


def stored_schema(handle: IO[bytes], source_format: str) -> pa.Schema:
    """The schema of an open Parquet or Arrow IPC (file or stream format) file. Raises
    what Arrow raises for a file that is not one."""
    if source_format == "parquet":
        # pre_buffer=False: nothing but the footer is read (a cloud file: one range).
        return pq.ParquetFile(handle, pre_buffer=False).schema_arrow
    try:
        return pa_ipc.open_file(handle).schema
    except pa.ArrowInvalid:
        handle.seek(0)
        return pa_ipc.open_stream(handle).schema


def local_schema(path: str, source_format: str) -> pa.Schema | None:
    """The schema of a local Parquet or Arrow IPC file; None for other formats or a file
    Arrow cannot open (its reader then says what is wrong)."""
    if source_format not in FOOTER_FORMATS:
        return None
    try:
        if source_format == "parquet":
            return pq.read_schema(path)
        with pa.memory_map(path) as handle:
            return pa_ipc.open_file(handle).schema
    except (OSError, pa.ArrowException):
        return None


def local_rows(path: str, source_format: str) -> int:
    """The rows of a local Parquet or Arrow IPC file, from its footer. Raises what Arrow
    raises for a file that is not one."""
    if source_format == "parquet":
        return int(pq.read_metadata(path).num_rows)
    with pa.memory_map(path) as handle:
        return int(pa_ipc.open_file(handle).count_rows())
