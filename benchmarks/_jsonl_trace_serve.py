"""`sluice serve` for benchmarks.jsonl_critical_path: the stage marks of
benchmarks._stage_trace_serve (reader, writer's chunk end, commit, fsync, manifest), plus
each query+redaction call and each NDJSON encode, appended to BENCH_STAGE_TRACE; and
every Python thread's name given to its native thread, so /proc/<pid>/task/*/comm tells
the writer from a redaction worker (threads a native library starts inherit the name of
the thread that started them: zstd's workers are named after the writer)."""

from __future__ import annotations

import ctypes
import threading
from typing import Any

from benchmarks import _stage_trace_serve as trace

_LIBC = ctypes.CDLL(None)
_LIBC.pthread_self.restype = ctypes.c_ulong
_LIBC.pthread_setname_np.argtypes = [ctypes.c_ulong, ctypes.c_char_p]
_BOOTSTRAP = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]


def _named_bootstrap(self: threading.Thread) -> None:
    # The kernel keeps 15 bytes of a thread's name.
    _LIBC.pthread_setname_np(_LIBC.pthread_self(), self.name.encode()[:15])
    _BOOTSTRAP(self)


def _install() -> None:
    threading.Thread._bootstrap_inner = _named_bootstrap  # type: ignore[attr-defined]
    trace._install()
    from sluice.server.pipeline import encoders, export

    in_order = export.in_order

    def traced_in_order(function: Any, items: Any, workers: int, name: str) -> Any:
        return in_order(trace._span("transform", function), items, workers, name)

    export.in_order = traced_in_order
    encoders.NdjsonEncoder.encode_pieces = trace._span(  # type: ignore[method-assign]
        "ndjson", encoders.NdjsonEncoder.encode_pieces
    )


if __name__ == "__main__":
    _install()
    from sluice.client.cli.main import main

    main()
