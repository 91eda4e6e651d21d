"""An export's NDJSON batches written into a few reused memfds (ndjson_pages): the bytes
handed on are Polars' NDJSON of each batch, and a file is written again only once no
view of its last batch is held, so bytes the writer still reads never change."""

from __future__ import annotations

import errno
import gc
import io
import logging
import mmap
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest

from sluice.format.temporal_text import temporal_as_text
from sluice.server import allocator
from sluice.server.pipeline.encoders import ENCODERS, ChunkContext
from sluice.server.pipeline.ndjson_pages import NdjsonPages, ndjson_pages_reused

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="memfd is Linux only")

CONTEXT = ChunkContext("exp-1", "events", 0)


@pytest.fixture(autouse=True)
def _mmap_threshold_fixed(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in the daemon, which fixes the mmap threshold at start (server/main.py): the
    pages are used only then. Recorded, not set, so this process's malloc stays as is."""
    monkeypatch.setattr(allocator._Fixed, "mmap_threshold", 4 * 1024 * 1024)


def _frame(rows: int, tag: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": range(rows),
            "message": [f'{tag} {n} \u00e9t\u00e9 "q"\nline' for n in range(rows)],
            "at": [datetime(2024, 5, 1, n % 24, tzinfo=UTC) for n in range(rows)],
        }
    )


def _expected(frame: pl.DataFrame) -> bytes:
    return temporal_as_text(frame).write_ndjson().encode()


def test_batches_held_by_the_writer_keep_their_bytes() -> None:
    # Sizes up and down, so a file is rewritten shorter and longer than before.
    frames = [_frame(rows, f"b{i}") for i, rows in enumerate((5_000, 20_000, 300, 12_000))]
    with ndjson_pages_reused(files=2):
        encoder = ENCODERS["jsonl"].make(CONTEXT)
        held = [encoder.encode_pieces(frame) for frame in frames]
        # Two files, both held: the later batches were written the plain way.
        assert [type(pieces[0]) for pieces in held] == [memoryview, memoryview, bytes, bytes]
        assert [b"".join(pieces) for pieces in held] == [_expected(f) for f in frames]
        first = held[0][0][10:]  # a slice outlives its view
        del held[:2]
        assert b"".join(encoder.encode_pieces(frames[3])) == _expected(frames[3])
        # The first file is still held through the slice; the second was free again.
        assert bytes(first) == _expected(frames[0])[10:]


def test_files_are_reused_once_let_go() -> None:
    pages = NdjsonPages(files=1)
    for i, rows in enumerate((8_000, 100, 9_000, 2_000)):
        frame = _frame(rows, f"r{i}")
        written = pages.write(frame)
        assert written is not None
        # NdjsonPages writes the frame as given (the encoder makes temporals text first).
        assert b"".join(written) == frame.write_ndjson().encode()
        del written
    pages.close()
    assert pages.write(_frame(10, "x")) is None


def test_an_empty_batch_hands_on_nothing() -> None:
    pages = NdjsonPages(files=1)
    assert pages.write(_frame(0, "e")) == ()
    # The file went back: the next batch is written into it.
    assert pages.write(_frame(3, "e")) is not None
    pages.close()


def test_outside_an_export_the_encoder_writes_bytes() -> None:
    frame = _frame(1_000, "o")
    pieces = ENCODERS["jsonl"].make(CONTEXT).encode_pieces(frame)
    assert all(isinstance(piece, bytes) for piece in pieces)
    assert b"".join(pieces) == _expected(frame)


def test_without_memfds_the_batches_go_the_plain_way(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*_: object) -> int:
        raise PermissionError("memfd_create refused (a sandbox)")

    monkeypatch.setattr("os.memfd_create", refused)
    frame = _frame(2_000, "s")
    with ndjson_pages_reused():
        pieces = ENCODERS["jsonl"].make(CONTEXT).encode_pieces(frame)
    assert all(isinstance(piece, bytes) for piece in pieces)
    assert b"".join(pieces) == _expected(frame)


def test_a_python_without_memfd_create_exports_the_plain_way() -> None:
    # A Python built against glibc < 2.27 (CentOS 7, Amazon Linux 2) has no
    # os.memfd_create: its JSON Lines exports must not fail. The capability is read when
    # the module loads, so the interpreter lacks it from the start.
    script = (
        "import os\n"
        "del os.memfd_create\n"
        "import polars as pl\n"
        "from sluice.server.allocator import fix_mmap_threshold\n"
        "assert fix_mmap_threshold(4 << 20)\n"
        "from sluice.server.pipeline.encoders import ENCODERS, ChunkContext\n"
        "from sluice.server.pipeline.ndjson_pages import ndjson_pages_reused\n"
        "with ndjson_pages_reused():\n"
        "    pieces = ENCODERS['jsonl'].make(ChunkContext('e', 'd', 0)).encode_pieces(\n"
        "        pl.DataFrame({'a': [1, 2]}))\n"
        "assert b''.join(pieces) == b'{\"a\":1}\\n{\"a\":2}\\n', pieces\n"
        "assert all(isinstance(piece, bytes) for piece in pieces)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


class _CollectingLock:
    """The pool's lock, with a garbage collection right after each acquire (as an
    allocation under the lock may start one), recording a re-entry on the same thread
    instead of deadlocking on it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._inner = 0
        self.reentered = False

    def __enter__(self) -> None:
        if self._owner == threading.get_ident():
            self.reentered = True
            self._inner += 1
            return
        self._lock.acquire()
        self._owner = threading.get_ident()
        gc.collect()

    def __exit__(self, *_: object) -> None:
        if self._inner:
            self._inner -= 1
            return
        self._owner = None
        self._lock.release()


def _held_in_a_cycle(pages: NdjsonPages) -> None:
    """Write a batch whose view only a reference cycle holds: let go at the next
    collection, whose finalizer hands its file back."""

    class Holder:
        pass

    holder = Holder()
    holder.me = holder  # type: ignore[attr-defined]
    holder.pieces = pages.write(_frame(100, "c"))  # type: ignore[attr-defined]
    assert holder.pieces is not None  # type: ignore[attr-defined]


@pytest.mark.parametrize("collected_in", ["close", "write"])
def test_a_file_let_go_under_the_pools_lock_comes_back_without_deadlock(
    collected_in: str,
) -> None:
    pages = NdjsonPages(files=1)
    lock = _CollectingLock()
    pages._lock = lock  # type: ignore[assignment]
    gc.disable()
    try:
        _held_in_a_cycle(pages)
        if collected_in == "close":
            pages.close()
        else:
            # The only file comes back during the write's own take, and is written.
            assert pages.write(_frame(5, "w")) is not None
            pages.close()
    finally:
        gc.enable()
    assert not lock.reentered


_POLARS_WRITE_NDJSON = pl.DataFrame.write_ndjson


def _misplacing_writer(how: str) -> Callable[..., object]:
    """A Polars whose writer does not leave a real file's offset at the end of what it
    wrote: `pwrite` writes at the file's start without moving the offset (as a writer
    using pwrite or reopening the file would); `lines` writes only the first half of
    the lines; `cut` all but the last bytes. Other targets are written as Polars does."""

    def write_ndjson(frame: pl.DataFrame, file: object = None) -> object:
        if not isinstance(file, io.FileIO):
            return _POLARS_WRITE_NDJSON(frame, file)  # type: ignore[call-overload]
        text = _POLARS_WRITE_NDJSON(frame).encode()
        if how == "pwrite":
            os.pwrite(file.fileno(), text, 0)
        elif how == "lines":
            lines = text.splitlines(keepends=True)
            os.write(file.fileno(), b"".join(lines[: len(lines) // 2]))
        else:
            os.write(file.fileno(), text[:-3])
        return None

    return write_ndjson


@pytest.mark.parametrize("how", ["pwrite", "cut"])
def test_a_segment_that_does_not_hold_the_batch_goes_the_plain_way(
    how: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    frames = [_frame(rows, f"m{i}") for i, rows in enumerate((3_000, 2_000, 4_000))]
    with ndjson_pages_reused():
        encoder = ENCODERS["jsonl"].make(CONTEXT)
        # The first batch is written right (and its lines counted); the later ones not.
        first = encoder.encode_pieces(frames[0])
        monkeypatch.setattr(pl.DataFrame, "write_ndjson", _misplacing_writer(how))
        with caplog.at_level(logging.WARNING, logger="sluice"):
            later = [encoder.encode_pieces(frame) for frame in frames[1:]]
    assert b"".join(first) == _expected(frames[0])
    assert [b"".join(pieces) for pieces in later] == [_expected(f) for f in frames[1:]]
    assert all(isinstance(piece, bytes) for pieces in later for piece in pieces)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_a_first_batch_short_of_lines_goes_the_plain_way(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(pl.DataFrame, "write_ndjson", _misplacing_writer("lines"))
    frames = [_frame(rows, f"f{i}") for i, rows in enumerate((3_000, 2_000))]
    with caplog.at_level(logging.WARNING, logger="sluice"), ndjson_pages_reused():
        encoder = ENCODERS["jsonl"].make(CONTEXT)
        written = [encoder.encode_pieces(frame) for frame in frames]
    assert [b"".join(pieces) for pieces in written] == [_expected(f) for f in frames]
    assert all(isinstance(piece, bytes) for pieces in written for piece in pieces)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_with_glibcs_sliding_mmap_threshold_the_batches_go_the_plain_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # malloc_mmap_threshold = 0: Polars' buffers come from the heap, which costs less.
    monkeypatch.setattr(allocator._Fixed, "mmap_threshold", 0)
    frame = _frame(2_000, "g")
    with ndjson_pages_reused():
        pieces = ENCODERS["jsonl"].make(CONTEXT).encode_pieces(frame)
    assert all(isinstance(piece, bytes) for piece in pieces)
    assert b"".join(pieces) == _expected(frame)


def _memfds() -> int:
    """This process's NDJSON page files with a descriptor open (an mmap holds a
    duplicate of its file's: counted once)."""
    files = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:sluice-ndjson"):
                files.add(os.stat(f"/proc/self/fd/{fd}").st_ino)
        except FileNotFoundError:  # the listing's own descriptor, closed since
            continue
    return len(files)


def test_an_export_closes_its_files_when_it_ends() -> None:
    before = _memfds()
    frames = [_frame(rows, f"e{i}") for i, rows in enumerate((4_000, 1_000, 3_000, 2_000))]
    with ndjson_pages_reused(files=3):
        encoder = ENCODERS["jsonl"].make(CONTEXT)
        held = [encoder.encode_pieces(frame) for frame in frames]
        assert _memfds() == before + 3
        late = held.pop(0)  # still held by a writer when the export ends
        del held
        # Takes back the two files let go, writes one, leaves the other free.
        assert b"".join(encoder.encode_pieces(frames[1])) == _expected(frames[1])
    assert _memfds() == before + 1
    assert b"".join(late) == _expected(frames[0])
    del late
    assert _memfds() == before


def test_a_file_that_cannot_be_mapped_is_closed_and_the_batch_goes_the_plain_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_mmap = mmap.mmap
    failing = True

    def no_memory(*args: Any, **kwargs: Any) -> mmap.mmap:
        if failing:
            raise OSError(errno.ENOMEM, "Cannot allocate memory")
        return real_mmap(*args, **kwargs)

    before = _memfds()
    frame = _frame(2_000, "n")
    with ndjson_pages_reused(files=2):
        encoder = ENCODERS["jsonl"].make(CONTEXT)
        monkeypatch.setattr(mmap, "mmap", no_memory)
        pieces = encoder.encode_pieces(frame)
        # The file is closed for good, not handed back to be written again.
        assert _memfds() == before
        failing = False
        again = encoder.encode_pieces(frame)
        assert isinstance(again[0], memoryview)
    assert all(isinstance(piece, bytes) for piece in pieces)
    assert b"".join(pieces) == b"".join(again) == _expected(frame)
    del again
    assert _memfds() == before
