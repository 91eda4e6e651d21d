"""Cutting an integer key's extent into contiguous ranges for parallel reads.

The ranges cover every integer (the first has no lower bound, the last no upper bound),
do not overlap, and follow each other in key order, so reading them one after another,
each in key order, gives the rows of one read in key order. Their number follows the
table's size: about `range_bytes` of table per range (at least one per connection),
cut evenly over [lowest, highest]; a skewed key gives ranges of uneven rows, which
changes only how evenly the connections share the work.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Ranges of one read, at most (each is one COPY statement).
MAX_RANGES = 10_000


@dataclass(frozen=True)
class KeyRange:
    """Keys with lower <= key < upper; None: unbounded on that side."""

    lower: int | None
    upper: int | None


def split_range(
    lowest: int, highest: int, size_bytes: int, connections: int, range_bytes: int
) -> list[KeyRange]:
    """Contiguous ranges covering every key, about `range_bytes` of `size_bytes` each,
    at least `connections` of them when the extent [lowest, highest] has that many keys
    (else one unbounded range)."""
    span = highest - lowest + 1
    wanted = -(-max(size_bytes, 0) // max(range_bytes, 1))
    count = min(max(wanted, connections), MAX_RANGES, span)
    if connections <= 1 or count <= 1:
        return [KeyRange(None, None)]
    cuts = [lowest + span * index // count for index in range(1, count)]
    bounds: list[int | None] = [None, *cuts, None]
    return [KeyRange(bounds[i], bounds[i + 1]) for i in range(count)]
