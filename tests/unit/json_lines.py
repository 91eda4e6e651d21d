"""Compressible JSON-like lines for compressor tests: words drawn at random from a
vocabulary, so zstd and deflate find repeats but not trivially."""

from __future__ import annotations

import random


def json_lines(size: int, *, seed: int, words: list[bytes], per_line: int, field: bytes) -> bytes:
    """At least `size` bytes of `{"id":N,"<field>":"<per_line words>"}` lines."""
    rng = random.Random(seed)
    lines: list[bytes] = []
    total = 0
    while total < size:
        line = b'{"id":%d,"%s":"%s"}\n' % (total, field, b" ".join(rng.choices(words, k=per_line)))
        lines.append(line)
        total += len(line)
    return b"".join(lines)
