"""A fixed piece of single-threaded work, timed, so seconds in reports from different
machines (or the same VM on a slower day) can be put side by side.

    python -m benchmarks.cpu_gauge

Every report that prints `machine_info()` carries it. The work is the kind an export
does, on bytes that are the same on every run: zstd level 3 over 16 MB of generated
text, sha256 over 64 MB, and two million turns of an interpreted loop. One thread, so
the other core's load shows only as shared caches and turbo, not as queueing; the CPU
seconds (this process's user+sys) are the gauge, the wall seconds say whether the
process had a core to itself. Session 16 ran every benchmark about twice as slow as
session 15 without a way to show it; with the gauge, a figure can be scaled by the
ratio of two gauges before comparing.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import time
from dataclasses import dataclass
from functools import cache

import zstandard

_TEXT_BYTES = 16 << 20
_HASHED_BYTES = 64 << 20
_LOOP_TURNS = 2_000_000
_ROUNDS = 3


@dataclass(frozen=True)
class Gauge:
    #: Median over the rounds of this process's CPU seconds for the work.
    cpu_seconds: float
    #: Median wall seconds for the same rounds.
    wall_seconds: float

    def line(self) -> str:
        return (
            f"- CPU gauge: {self.cpu_seconds:.2f} CPU s, {self.wall_seconds:.2f} s wall "
            f"(median of {_ROUNDS}: one thread, zstd-3 of 16 MB of text, sha256 of 64 MB, "
            f"{_LOOP_TURNS / 1e6:.0f}M interpreted loop turns; benchmarks.cpu_gauge); scale "
            "seconds from another report by the ratio of the two gauges before comparing"
        )


@cache
def _text() -> bytes:
    """Text with the redundancy of log lines: words drawn from a small vocabulary."""
    words = [f"w{n:03d}" for n in range(512)] + ["GET", "/api/v1", "200", "ms", "user"]
    rng = random.Random(7)
    # ~6 bytes per word with its separator: enough words for the size, drawn at once.
    drawn = rng.choices(words, k=_TEXT_BYTES // 5)
    lines = (" ".join(drawn[at : at + 12]) for at in range(0, len(drawn), 12))
    out = "\n".join(lines).encode()
    return out[:_TEXT_BYTES]


def _work(text: bytes) -> int:
    compressed = zstandard.ZstdCompressor(level=3, threads=0).compress(text)
    digest = hashlib.sha256()
    for _ in range(_HASHED_BYTES // len(text)):
        digest.update(text)
    total = 0
    for turn in range(_LOOP_TURNS):
        total += turn & 7
    return len(compressed) + digest.digest()[0] + total


def measure() -> Gauge:
    text = _text()
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(_ROUNDS):
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        _work(text)
        cpu.append(time.process_time() - cpu_start)
        wall.append(time.perf_counter() - wall_start)
    return Gauge(statistics.median(cpu), statistics.median(wall))


def main() -> None:
    print(measure().line())


if __name__ == "__main__":
    main()
