"""Cutting an integer key's extent into contiguous ranges for parallel reads.

The ranges cover every integer (the first has no lower bound, the last no upper bound),
do not overlap, and follow each other in key order, so reading them one after another,
each in key order, gives the rows of one read in key order. Their number follows the
table's size: about `range_bytes` of table per range (at least one per connection),
cut at the key's histogram (pg_stats) where PostgreSQL has one, else evenly over
[lowest, highest]. Uneven ranges change only how evenly the connections share the
work, never which rows are read or their order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: Ranges of one read, at most (each is one COPY statement).
MAX_RANGES = 10_000


@dataclass(frozen=True)
class KeyRange:
    """Keys with lower <= key < upper; None: unbounded on that side."""

    lower: int | None
    upper: int | None


def split_range(
    lowest: int,
    highest: int,
    size_bytes: int,
    connections: int,
    range_bytes: int,
    histogram: Sequence[int] = (),
) -> list[KeyRange]:
    """Contiguous ranges covering every key, about `range_bytes` of `size_bytes` each,
    at least `connections` of them when the extent [lowest, highest] has that many keys
    (else one unbounded range). `histogram`: the key's equal-frequency bounds
    (pg_stats.histogram_bounds), when known: the cuts follow them, so a skewed key (a
    few far outliers, dense and sparse stretches) still gives ranges of similar rows."""
    span = highest - lowest + 1
    wanted = -(-max(size_bytes, 0) // max(range_bytes, 1))
    count = min(max(wanted, connections), MAX_RANGES, span)
    if connections <= 1 or count <= 1:
        return [KeyRange(None, None)]
    inner = sorted({key for key in histogram if lowest < key <= highest})
    points = [lowest, *inner, highest + 1]
    steps = len(points) - 1
    cuts: list[int] = []
    for index in range(1, count):
        # Where quantile index/count falls, interpolated between two histogram bounds.
        at, part = divmod(index * steps, count)
        cut = points[at] + (points[at + 1] - points[at]) * part // count
        if lowest < cut <= highest and (not cuts or cut > cuts[-1]):
            cuts.append(cut)
    if not cuts:
        return [KeyRange(None, None)]
    bounds: list[int | None] = [None, *cuts, None]
    return [KeyRange(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]


def parse_histogram(text: str | None) -> list[int]:
    """pg_stats.histogram_bounds of an integer column, as text ("{1,5,9}"); [] when
    there is none or it does not read as integers."""
    if not text or not text.startswith("{") or not text.endswith("}"):
        return []
    try:
        return [int(part) for part in text[1:-1].split(",") if part]
    except ValueError:
        return []
