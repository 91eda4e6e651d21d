"""Key ranges of a parallel PostgreSQL read: contiguous, in key order, covering every
key, about one range per `range_bytes` of table and at least one per connection."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from sluice.server.pipeline.postgres_ranges import (
    MAX_RANGES,
    KeyRange,
    parse_histogram,
    split_range,
)


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


def test_a_skewed_key_is_cut_at_its_histogram() -> None:
    """Dense keys 0..999 and a few outliers near 10**12: an even cut would put every
    dense key in the first range; the histogram's cuts share them."""
    histogram = [*range(0, 1000, 10), 10**12]
    ranges = split_range(0, 10**12, 4000, 4, 1000, histogram)
    assert len(ranges) == 4
    uppers = [r.upper for r in ranges[:-1]]
    assert all(u is not None and abs(u - 250 * (i + 1)) <= 10 for i, u in enumerate(uppers))
    assert split_range(0, 10**12, 4000, 4, 1000)[0].upper == 250_000_000_000


def test_histogram_text_is_read_as_integers_or_not_at_all() -> None:
    assert parse_histogram("{-5,0,17}") == [-5, 0, 17]
    assert parse_histogram(None) == parse_histogram("") == parse_histogram("{a,b}") == []


@given(
    lowest=st.integers(-(2**62), 2**62),
    width=st.integers(0, 2**40),
    size=st.integers(0, 10**9),
    connections=st.integers(1, 16),
    histogram=st.lists(st.integers(-(2**62), 2**62), max_size=30),
)
def test_ranges_cover_every_key_once_in_order(
    lowest: int, width: int, size: int, connections: int, histogram: list[int]
) -> None:
    highest = lowest + width
    ranges = split_range(lowest, highest, size, connections, 1_000_000, histogram)
    assert ranges[0].lower is None and ranges[-1].upper is None
    for before, after in itertools.pairwise(ranges):
        assert before.upper is not None and before.upper == after.lower
        assert before.lower is None or before.lower < before.upper
    keys = [lowest - 1, lowest, highest, highest + 1, lowest + width // 2]
    positions = [_range_of(k, ranges) for k in sorted(keys)]
    assert positions == sorted(positions)
