"""`sluice serve` that appends a timestamped line per pipeline stage event to the file
BENCH_STAGE_TRACE: the critical path of a Parquet export (when the first row group
starts, the encoder workers' idle gaps, the tail after the last row group). Run through
`benchmarks.parquet_daemon_cpu --launcher benchmarks._stage_trace_serve` or
`benchmarks.stage_trace`, which reads the lines back."""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from sluice.client.cli.main import main

_LOCK = threading.Lock()
_LINES: list[str] = []


def mark(what: str) -> None:
    line = f"{time.perf_counter():.6f} {threading.current_thread().name} {what}\n"
    with _LOCK:
        _LINES.append(line)


def _flush() -> None:
    path = os.environ.get("BENCH_STAGE_TRACE")
    with _LOCK:
        lines, _LINES[:] = list(_LINES), []
    if path and lines:
        with open(path, "a") as out:
            out.writelines(lines)


def _span(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def traced(*args: Any, **kwargs: Any) -> Any:
        mark(f"{name}>")
        try:
            return function(*args, **kwargs)
        finally:
            mark(f"{name}<")

    return traced


def _install() -> None:
    from sluice.server.execution import executor
    from sluice.server.pipeline import encoders, export, open_chunk
    from sluice.sinks import local

    read_batches = export.read_batches

    def traced_read(*args: Any, **kwargs: Any) -> Iterator[Any]:
        mark("read-start")
        for batch in read_batches(*args, **kwargs):
            mark(f"read-batch {batch.height}")
            yield batch
        mark("read-end")

    export.read_batches = traced_read
    encoders._parquet_row_group = _span("row-group", encoders._parquet_row_group)
    encoders._chunk_setup = _span("setup", encoders._chunk_setup)
    file_end = encoders._file_end

    def traced_file_end(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for piece in file_end(*args, **kwargs):
            mark(f"tail-piece {len(piece)}")
            yield piece
        mark("tail-end")

    encoders._file_end = traced_file_end
    encoders.ParquetEncoder.encode_pieces = _span(  # type: ignore[method-assign]
        "encode-call", encoders.ParquetEncoder.encode_pieces
    )
    open_chunk.OpenChunk.write_pieces = _span(  # type: ignore[method-assign]
        "write-pieces", open_chunk.OpenChunk.write_pieces
    )
    open_chunk.OpenChunk.close = _span("chunk-close", open_chunk.OpenChunk.close)  # type: ignore[method-assign]
    export._ChunkWriterThread._finish = _span("writer-finish", export._ChunkWriterThread._finish)  # type: ignore[method-assign]
    export._ChunkWriterThread._commit = _span("commit", export._ChunkWriterThread._commit)  # type: ignore[method-assign]
    local._LocalWriter.commit = _span("fsync-commit", local._LocalWriter.commit)  # type: ignore[method-assign]
    executor.run_pipeline = _span("pipeline", executor.run_pipeline)
    executor._commit = _span("manifest", executor._commit)
    execute = executor.execute

    def traced_execute(*args: Any, **kwargs: Any) -> Any:
        mark("execute>")
        try:
            return execute(*args, **kwargs)
        finally:
            mark("execute<")
            _flush()

    executor.execute = traced_execute
    # Whoever imported execute by name calls the traced one too.
    from sluice.server.service import runner

    if getattr(runner, "execute", None) is execute:
        runner.execute = traced_execute


if __name__ == "__main__":
    _install()
    main()
