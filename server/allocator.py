"""How the C allocator returns big buffers: on glibc, a fixed mmap threshold.

glibc raises its mmap threshold each time a large mmapped block is freed, so after a
while the multi-megabyte buffers an export cycles through (zstd's per-chunk contexts,
encoded batches, Parquet row groups) come from the heap arenas instead, where free
space fragments and stays resident: the daemon's peak grew by ~18% from 1M to 10M
rows (625 -> 737 MiB, jsonl+zstd). With the threshold fixed, blocks at least that big
are mapped on allocation and unmapped on free. Measured at 1M -> 10M rows: 1 MiB
585 -> 627 MiB (+7%), 4 MiB 593 -> 625 MiB (+5%), 16 MiB 563 -> 641 MiB (+14%). The
price is fresh pages for every big buffer: ~3% more CPU for csv+gzip at 4 MiB (its 26 MB
encoded batches), none measurable for the other formats. Elsewhere (macOS, musl) this
does nothing.

The blocks below the threshold fragment too, one heap per arena: glibc gives threads up
to 8 arenas per core, and an export starts threads all the time (zstd's workers and a
commit thread per chunk, Parquet's encoder pool, gRPC's handlers), so over a long export
more arenas fill up with free space that stays resident. With the threshold at 4 MiB,
events jsonl+zstd from 1M to 10M rows still grew 720 -> 847 and 681 -> 804 MiB (+17.6%,
+18.1%) with glibc's 16 arenas (2 cores); capped at 2, 720 -> 773 and 738 -> 806 MiB
(+7.4%, +9.2%), with no more daemon CPU (68 and 64 s vs 75 and 77 s for the 10M export,
on a busy machine): the heavy work allocates in Polars', Arrow's and zstd's own buffers
or under the GIL, so threads rarely wait for an arena.

Arrow's own buffers (the Parquet encoder's tables, pages and files) come from Arrow's
bundled jemalloc rather than its default mimalloc (see arrow_pool_jemalloc).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

_log = logging.getLogger("sluice")

#: mallopt's parameter numbers (glibc's malloc.h).
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


class _Fixed:
    #: The mmap threshold fix_mmap_threshold set, in bytes; 0 while glibc's own sliding
    #: threshold is in effect.
    mmap_threshold = 0


def fix_mmap_threshold(threshold: int) -> bool:
    """Fix glibc's mmap threshold at `threshold` bytes (0: leave glibc's default).
    Returns whether it was set."""
    if threshold <= 0:
        return False
    done = _mallopt(_M_MMAP_THRESHOLD, threshold)
    if done is False:
        _log.warning("could not set the allocator's mmap threshold to %d bytes", threshold)
    if done:
        _Fixed.mmap_threshold = threshold
    return bool(done)


def fixed_mmap_threshold() -> int:
    """The mmap threshold this process fixed (fix_mmap_threshold), or 0: glibc's
    default, another allocator, or not set yet. With it fixed, every multi-megabyte
    buffer is freshly mapped and unmapped, a cost server/pipeline/ndjson_pages.py
    avoids; with glibc's sliding threshold those buffers come from the heap anyway."""
    return _Fixed.mmap_threshold


def limit_arenas(count: int) -> bool:
    """Cap glibc's malloc arenas at `count` (0: leave glibc's default, 8 per core).
    Call it before the daemon starts its threads: arenas already made stay. The
    operator's MALLOC_ARENA_MAX, read by glibc at start-up, is left to win. Returns
    whether it was set."""
    if count <= 0 or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    done = _mallopt(_M_ARENA_MAX, count)
    if done is False:
        _log.warning("could not cap the allocator's arenas at %d", count)
    return bool(done)


def arrow_pool_jemalloc() -> bool:
    """Make Arrow's bundled jemalloc its default memory pool, instead of mimalloc, by
    naming it in ARROW_DEFAULT_MEMORY_POOL, which Arrow reads once, when pyarrow loads:
    so this runs as the daemon's package is imported (server/__init__.py), before any of
    its modules imports pyarrow. pyarrow's set_memory_pool would come too late for what
    matters: the Parquet writer's pages and compression buffers come from Arrow's C++
    default pool, which it does not change (tried: the peak RSS and CPU of mimalloc). An
    operator's ARROW_DEFAULT_MEMORY_POOL wins. Returns whether it was set (not when
    pyarrow was loaded already, the operator chose, or Arrow has no jemalloc).

    The Parquet encoder's workers are a new thread pool per chunk, and mimalloc gives
    each new thread fresh heaps whose first touches fault in (transparent huge) pages:
    a fresh daemon's first 1M-row Parquet export spent 0.3-0.4 s of kernel time zeroing
    pages under mimalloc's free lists, the later ones ~0.06 s. jemalloc's arenas are
    shared by the threads, so their pages outlive each pool. A fresh daemon per 1M-row
    Parquet export (benchmarks/ceiling_bench's case (c)), alternating, 3 rounds, load
    5-7 on 2 cores: daemon CPU median events 1.48 -> 1.31 s, text-heavy 1.67 -> 1.33 s,
    peak RSS 730 -> 652 MiB and 719 -> 659 MiB; the stored bytes identical. At 5M rows
    (5 chunks) the peak stayed within run-to-run noise (880/882 vs 872/963 MiB)."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL") or "pyarrow" in sys.modules:
        return False
    os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "jemalloc"
    try:
        import pyarrow  # reads the variable now, once and for all
    finally:
        # Only this process's choice: child processes (a benchmark's peers, started by
        # a driver that imports the daemon's package) keep Arrow's own default.
        del os.environ["ARROW_DEFAULT_MEMORY_POOL"]
    return bool(pyarrow.default_memory_pool().backend_name == "jemalloc")


def _mallopt(parameter: int, value: int) -> bool | None:
    """glibc's mallopt(parameter, value): whether it took; None without glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None  # not glibc
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(parameter, value))
