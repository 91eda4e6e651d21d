"""Key ranges of a parallel PostgreSQL read: contiguous, in key order, covering every
key, about one range per `range_bytes` of table and at least one per connection."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from sluice.server.pipeline.postgres_ranges import MAX_RANGES, KeyRange, split_range


def _range_of(key: int, ranges: list[KeyRange]) -> int:
    hits = [
        i
        for i, r in enumerate(ranges)
        if (r.lower is None or key >= r.lower) and (r.upper is None or key < r.upper)
    ]
    assert len(hits) == 1, (key, ranges)
    return hits[0]


def test_one_connection_or_one_key_reads_one_unbounded_range() -> None:
    assert split_range(1, 1_000_000, 10**9, 1, 1000) == [KeyRange(None, None)]
    assert split_range(7, 7, 10**9, 4, 1000) == [KeyRange(None, None)]


def test_the_count_follows_the_size_with_at_least_one_range_per_connection() -> None:
    assert len(split_range(0, 999, 0, 2, 100)) == 2
    assert len(split_range(0, 999, 1000, 2, 100)) == 10
    assert len(split_range(0, 10**12, 10**15, 2, 1)) == MAX_RANGES
    assert split_range(0, 99, 0, 2, 100) == [KeyRange(None, 50), KeyRange(50, None)]


@given(
    lowest=st.integers(-(2**62), 2**62),
    width=st.integers(0, 2**40),
    size=st.integers(0, 10**9),
    connections=st.integers(1, 16),
)
def test_ranges_cover_every_key_once_in_order(
    lowest: int, width: int, size: int, connections: int
) -> None:
    highest = lowest + width
    ranges = split_range(lowest, highest, size, connections, 1_000_000)
    assert ranges[0].lower is None and ranges[-1].upper is None
    for before, after in itertools.pairwise(ranges):
        assert before.upper is not None and before.upper == after.lower
        assert before.lower is None or before.lower < before.upper
    keys = [lowest - 1, lowest, highest, highest + 1, lowest + width // 2]
    positions = [_range_of(k, ranges) for k in sorted(keys)]
    assert positions == sorted(positions)
