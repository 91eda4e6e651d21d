"""`sluice serve` with a memory probe inside, for benchmarks.rss_curve.

A daemon thread appends one JSON line every BENCH_RSS_PROBE_SECONDS (default 0.2) to the
file BENCH_RSS_PROBE: the process's own VmRSS/VmHWM (/proc/self/status), its anonymous and
file-backed resident memory (/proc/self/smaps_rollup), the bytes Arrow's default memory
pool holds (pa.total_allocated_bytes) and its backend, and Python's allocated blocks.
Reading its own /proc files costs the daemon well under a millisecond a sample.

Experiment knobs, so variants can be compared in real daemons without settings users
would never need: BENCH_ARROW_POOL (system|jemalloc|mimalloc: Arrow's default pool),
BENCH_MALLOC_TRIM_SECONDS (call glibc's malloc_trim(0) that often from the probe thread),
BENCH_SETTING_<NAME> (becomes SLUICE_<NAME> for the daemon's settings: the benchmark's
daemon launcher drops the caller's SLUICE_* variables).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import sys
import threading
import time
from pathlib import Path

from sluice.client.cli.main import main


def _kib_fields(path: str, names: tuple[str, ...]) -> dict[str, int]:
    values: dict[str, int] = {}
    try:
        text = Path(path).read_text()
    except OSError:
        return values
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in names:
            values[key] = int(rest.split()[0]) * 1024
    return values


def _probe(out: Path, every: float, trim_every: float) -> None:
    import pyarrow as pa

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    last_trim = time.monotonic()
    with out.open("a") as lines:
        while True:
            now = time.monotonic()
            if trim_every > 0 and now - last_trim >= trim_every:
                libc.malloc_trim(0)
                last_trim = now
            sample: dict[str, object] = {"t": time.time()}
            sample |= _kib_fields("/proc/self/status", ("VmRSS", "VmHWM", "RssAnon", "RssFile"))
            sample |= _kib_fields("/proc/self/smaps_rollup", ("Anonymous", "Private_Dirty"))
            pool = pa.default_memory_pool()
            sample["arrow_bytes"] = pa.total_allocated_bytes()
            sample["arrow_pool_max"] = pool.max_memory()
            sample["arrow_backend"] = pool.backend_name
            sample["py_blocks"] = sys.getallocatedblocks()
            lines.write(json.dumps(sample) + "\n")
            lines.flush()
            time.sleep(every)


def _start() -> None:
    for key, value in list(os.environ.items()):
        if key.startswith("BENCH_SETTING_"):
            os.environ["SLUICE_" + key.removeprefix("BENCH_SETTING_")] = value
    pool = os.environ.get("BENCH_ARROW_POOL")
    if pool:
        import pyarrow as pa

        pa.set_memory_pool(getattr(pa, f"{pool}_memory_pool")())
    out = os.environ.get("BENCH_RSS_PROBE")
    if out:
        every = float(os.environ.get("BENCH_RSS_PROBE_SECONDS", "0.2"))
        trim = float(os.environ.get("BENCH_MALLOC_TRIM_SECONDS", "0"))
        thread = threading.Thread(
            target=_probe, args=(Path(out), every, trim), name="rss-probe", daemon=True
        )
        thread.start()


if __name__ == "__main__":
    _start()
    main()
