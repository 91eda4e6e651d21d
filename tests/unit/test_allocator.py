"""The daemon fixes glibc's mmap threshold, so big buffers freed during an export leave
the process instead of staying in the heap. Checked in a fresh interpreter each time (the
threshold is process-wide state) by where a 2 MiB block lands after a 16 MiB block was
freed, which is what raises glibc's sliding threshold."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from sluice.server.allocator import fix_mmap_threshold

_PROBE = """
import ctypes, ctypes.util, sys
from sluice.server.allocator import fix_mmap_threshold
if sys.argv[1] == "fixed":
    assert fix_mmap_threshold(1 << 20)
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
libc.free(libc.malloc(16 << 20))  # glibc now serves blocks below 16 MiB from the heap
block = libc.malloc(2 << 20)
# glibc marks a chunk it mapped on its own with IS_MMAPPED (0x2) in the size word just
# before the block. (The mapping's size in /proc/self/maps is no proof: the kernel merges
# it with a neighbouring anonymous mapping, such as the ones pyarrow's allocator makes.)
size_word = ctypes.c_size_t.from_address(block - ctypes.sizeof(ctypes.c_size_t)).value
print("own mapping" if size_word & 0x2 else "heap")
"""


def _where_a_block_lands(mode: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_a_fixed_threshold_maps_big_blocks_of_their_own() -> None:
    assert _where_a_block_lands("sliding") == "heap"
    assert _where_a_block_lands("fixed") == "own mapping"


def test_zero_leaves_the_allocator_alone() -> None:
    assert fix_mmap_threshold(0) is False


_ARENAS_PROBE = """
import ctypes, ctypes.util, sys, threading
from sluice.server.allocator import limit_arenas
if sys.argv[1] == "capped":
    assert limit_arenas(2)
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = (ctypes.c_size_t,)
start = threading.Barrier(8)
def work():
    start.wait()  # all alive at once, so none can take over a finished thread's arena
    libc.malloc(4096)
    start.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
libc.malloc_stats()  # one "Arena N:" block per arena, on stderr
"""


def _arenas(mode: str, **environ: str) -> int:
    import os

    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | environ
    done = subprocess.run(
        [sys.executable, "-c", _ARENAS_PROBE, mode],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    return done.stderr.count("Arena ")


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_capped_arenas_are_shared_by_the_daemons_threads() -> None:
    """Eight threads allocating at once get arenas of their own by default; capped, they
    share two (the main arena and one more)."""
    assert _arenas("default") > 2
    assert _arenas("capped") == 2


def test_the_operators_malloc_arena_max_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    from sluice.server.allocator import limit_arenas

    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert limit_arenas(2) is False
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    assert limit_arenas(0) is False


def test_the_arena_cap_is_a_setting() -> None:
    from sluice.server.settings import SettingsError, load_settings

    assert load_settings(environ={}).malloc_arena_max == 2
    assert load_settings(environ={"SLUICE_MALLOC_ARENA_MAX": "0"}).malloc_arena_max == 0
    with pytest.raises(SettingsError, match="malloc_arena_max"):
        load_settings(environ={"SLUICE_MALLOC_ARENA_MAX": "-1"})


_ARROW_POOL_PROBE = """
import os
import sluice.server  # the daemon's package, before anything loads pyarrow
import pyarrow as pa
from sluice.server.allocator import arrow_pool_jemalloc
print(pa.default_memory_pool().backend_name, pa.array([1, 2]).buffers()[1].size)
print(arrow_pool_jemalloc())  # too late now: pyarrow has read its pool's name
print(os.environ.get("ARROW_DEFAULT_MEMORY_POOL"))  # what child processes inherit
"""


def _arrow_pool(**environ: str) -> list[str]:
    import os

    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"} | environ
    done = subprocess.run(
        [sys.executable, "-c", _ARROW_POOL_PROBE], capture_output=True, text=True, check=True,
        env=env,
    )  # fmt: skip
    return done.stdout.split("\n")[:3]


def test_the_daemons_arrow_allocates_from_its_jemalloc() -> None:
    import pyarrow as pa

    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        pytest.skip("this Arrow is built without jemalloc")
    # Only the daemon's own choice: its child processes keep Arrow's default.
    assert _arrow_pool() == ["jemalloc 16", "False", "None"]


def test_the_operators_arrow_pool_wins() -> None:
    assert _arrow_pool(ARROW_DEFAULT_MEMORY_POOL="system") == ["system 16", "False", "system"]
