"""Reused memory for the NDJSON encoder's output, so an export's batches are not each
written into freshly mapped pages.

Polars' writer hands a Python file object its output as new `bytes` of ~11 MB each,
copied out of its own buffer; blocks that big are mapped on allocation and unmapped on
free (server/allocator.py fixes the threshold at 4 MiB), so every batch's NDJSON was
written into fresh pages: on text-heavy 1M rows (525 MB of NDJSON) ~0.18 CPU s of page
faults in Polars' thread and ~0.05 s of munmap, the largest cost the daemon adds over
Polars' own sink_ndjson (perf: benchmarks/perf_profile.py).

Given a real file (an exact io.FileIO), Polars writes to its descriptor itself. Here
that is an anonymous in-memory file (memfd) rewritten from its start for each batch: its
pages are allocated by the first batches and then overwritten in place. The encoder
hands on a read-only map of the bytes written, as one memoryview. A file is written
again only once nothing holds a view of its last batch (the map's weak reference dies
with the last view, slices and buffers the writer took included), so the bytes handed
on never change under their reader. With every file still held (a writer behind), the
encoder writes the plain way (new bytes); it never waits.

The files hold their pages while the export runs (each as many as the largest batch's
NDJSON written into it: up to FILES times the export's largest batch, which the
writer's byte budget, settings.pipeline_queue_bytes, does not count) and are closed
when it ends. Linux only, with a Python that has
os.memfd_create (MEMFD_AVAILABLE), and only with the mmap threshold fixed (see
ndjson_pages_reused); elsewhere nothing changes.
"""

from __future__ import annotations

import ctypes
import io
import logging
import mmap
import os
import queue
import sys
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import polars as pl

from sluice.server.allocator import fixed_mmap_threshold

_log = logging.getLogger("sluice")

_NEWLINE = ord("\n")

#: Bytes each file is mapped for at first (address space only: pages come as written).
MAP_BYTES = 64 * 1024 * 1024
#: Files per export: the batch being encoded, the writer's (its queue holds about two
#: text-heavy batches: settings.PIPELINE_QUEUE_BYTES) and one to spare.
FILES = 4
#: Whether this Python can make memfds: Linux, and a CPython built against glibc 2.27 or
#: later (CentOS 7's and Amazon Linux 2's builds have no os.memfd_create). Without it,
#: the batches go the plain way.
MEMFD_AVAILABLE = (
    sys.platform == "linux" and hasattr(os, "memfd_create") and hasattr(os, "MFD_CLOEXEC")
)


class _File:
    """One memfd, written from its start for each batch, and a map of it that stays
    (its pages mapped once, not faulted in and unmapped per batch)."""

    def __init__(self) -> None:
        self.fd = os.memfd_create("sluice-ndjson", os.MFD_CLOEXEC)
        self.closed = False
        self._mapped: mmap.mmap | None = None

    def written(self, size: int) -> memoryview:
        """A read-only view of the file's first `size` bytes; `view.obj` dies with the
        last view or slice of it."""
        if self._mapped is None or len(self._mapped) < size:
            # Mapped past the bytes written (as far as the file's size, which a map may
            # not pass): later, larger batches fit without a new map.
            length = max(size, MAP_BYTES)
            if os.fstat(self.fd).st_size < length:
                os.ftruncate(self.fd, length)
            self._mapped = mmap.mmap(self.fd, length, flags=mmap.MAP_SHARED)
        # A buffer of its own over the map, so that each batch's views are told apart
        # (views of the map itself would all share it).
        held = (ctypes.c_char * size).from_buffer(self._mapped)
        return memoryview(held).cast("B").toreadonly()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._mapped = None  # unmapped once no batch's buffer holds it
            os.close(self.fd)


class NdjsonPages:
    """Up to `files` memfds an export's NDJSON batches are written into in turn."""

    def __init__(self, files: int = FILES) -> None:
        self._limit = files
        self._lock = threading.Lock()
        self._free: list[_File] = []
        # Files whose batch's last view died. Their finalizers run wherever the view
        # dies, a garbage collection on this thread included, even one set off by an
        # allocation while this thread holds self._lock: so they only put the file here
        # (SimpleQueue.put is safe from weakref callbacks and __del__), never take the
        # lock, and _take and close collect them.
        self._let_go: queue.SimpleQueue[_File] = queue.SimpleQueue()
        self._made = 0
        self._closed = False
        self._counted = False  # the first batch's lines counted (_holds)
        self._distrusted = False  # a batch's segment did not hold it: no more writes

    def write(self, batch: pl.DataFrame) -> tuple[memoryview, ...] | None:
        """`batch.write_ndjson`'s bytes as a view of a free file (none for no bytes),
        or None when every file is still held."""
        file = self._take()
        if file is None:
            return None
        try:
            os.lseek(file.fd, 0, os.SEEK_SET)
            # An exact FileIO: Polars writes to (a duplicate of) its descriptor, which
            # shares the offset, so the offset after is the size written.
            batch.write_ndjson(io.FileIO(file.fd, "wb", closefd=False))
            size = os.lseek(file.fd, 0, os.SEEK_CUR)
            if size == 0 and batch.height == 0:
                self._let_go.put(file)
                return ()
            view = file.written(size) if size else memoryview(b"")
            if not self._holds(view, batch.height):
                # The offset did not follow the writer: trust no later batch either.
                self._distrusted = True
                del view
                self._let_go.put(file)
                _log.warning(
                    "NDJSON: the writer's output did not end at the file's offset; this "
                    "export's batches are written the plain way"
                )
                return None
        except OSError:
            # No memory to map (or grow) the file: this batch, and the file's later
            # ones, the plain way; the export goes on.
            self._drop(file)
            return None
        except BaseException:
            self._let_go.put(file)
            raise
        # The buffer lives as long as any view of it (slices and casts share it).
        weakref.finalize(view.obj, self._give_back, file)
        return (view,)

    def _holds(self, segment: memoryview, rows: int) -> bool:
        """Whether `segment` can be the NDJSON of `rows` rows: not empty, ending at a
        line's end, and, for the export's first batch, of exactly `rows` lines. Polars
        (2.1) writes with write(2) to a duplicate of the descriptor, moving the shared
        offset, which gives the size; one that used pwrite or reopened the file would
        leave a short or empty segment. Counting every batch's lines (a copy, ~10 ms
        CPU per 27 MB batch, ~0.18 s per 1M text-heavy rows) would cost more than the
        pages save (~0.1 s); the first batch, usually of the export's batch size, shows
        how this Polars writes."""
        if not segment or segment[-1] != _NEWLINE:
            return False
        if self._counted:
            return True
        self._counted = True
        return segment.tobytes().count(b"\n") == rows

    def close(self) -> None:
        """Close the free files now and the held ones once let go; no more writes."""
        with self._lock:
            self._closed = True
            free, self._free = self._free, []
        for file in free:
            file.close()
        self._close_let_go()

    def _take(self) -> _File | None:
        with self._lock:
            if self._closed or self._distrusted:
                return None
            while True:
                try:
                    self._free.append(self._let_go.get_nowait())
                except queue.Empty:
                    break
            if self._free:
                return self._free.pop()
            if self._made >= self._limit:
                return None
            self._made += 1
        try:
            return _File()
        except OSError:
            # No memfd here (a sandbox refusing the call, too many open files): the
            # export's batches go the plain way.
            with self._lock:
                self._made = self._limit
            return None

    def _drop(self, file: _File) -> None:
        """Close `file` for good (a failure): it is never written again."""
        file.close()

    def _give_back(self, file: _File) -> None:
        """A batch's finalizer: `file` may be written again. No lock (see _let_go)."""
        self._let_go.put(file)
        if self._closed:
            # Put before reading _closed, and close sets _closed before it collects the
            # files let go: whichever comes second closes this one.
            self._close_let_go()

    def _close_let_go(self) -> None:
        while True:
            try:
                file = self._let_go.get_nowait()
            except queue.Empty:
                return
            file.close()


class _CurrentPages(threading.local):
    def __init__(self) -> None:
        self.pages: NdjsonPages | None = None


_CURRENT = _CurrentPages()


def current_pages() -> NdjsonPages | None:
    """The files this thread's NDJSON encoders write into (inside `ndjson_pages_reused`),
    or None."""
    return _CURRENT.pages


@contextmanager
def ndjson_pages_reused(files: int = FILES) -> Iterator[None]:
    """Inside this block, NDJSON encoders on this thread (an export's chunks, one after
    another) write into the same few files; they are closed when it ends. Only with the
    daemon's fixed mmap threshold (settings.malloc_mmap_threshold, the default 4 MiB):
    with glibc's sliding default (malloc_mmap_threshold = 0) Polars' buffers come from
    the heap, and the plain way costs less CPU (16 text-heavy 27 MB batches: 0.28-0.33 s
    plain vs 0.34-0.37 s through the files)."""
    if not MEMFD_AVAILABLE or not fixed_mmap_threshold() or _CURRENT.pages is not None:
        yield
        return
    pages = NdjsonPages(files)
    _CURRENT.pages = pages
    try:
        yield
    finally:
        _CURRENT.pages = None
        pages.close()
