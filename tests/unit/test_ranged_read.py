"""Ranged reads: one request per block whatever the read sizes, transient faults retried."""

from __future__ import annotations

import pytest

from sluice.sinks.errors import StorageAccessDenied, StorageUnavailable
from sluice.sinks.ranged_read import ranged_reader
from sluice.sinks.retry import RetryPolicy

DATA = bytes(range(256)) * 40  # 10,240 bytes


class Store:
    """Serves byte ranges of DATA, failing the first `failures` requests transiently."""

    def __init__(self, failures: int = 0, error: type[Exception] = StorageUnavailable) -> None:
        self.requests: list[tuple[int, int]] = []
        self.failures = failures
        self.error = error

    def fetch(self, offset: int, length: int) -> bytes:
        self.requests.append((offset, length))
        if self.failures:
            self.failures -= 1
            raise self.error("connection reset")
        return DATA[offset : offset + length]


@pytest.mark.parametrize("read_size", [-1, 1, 7, 4096, 100_000])
def test_one_request_per_block_whatever_the_read_size(read_size: int) -> None:
    store = Store()
    handle = ranged_reader(len(DATA), store.fetch, block=4096)
    chunks = []
    while chunk := handle.read(read_size):
        chunks.append(chunk)
    assert b"".join(chunks) == DATA
    assert store.requests == [(0, 4096), (4096, 4096), (8192, 2048)]


def test_transient_failures_are_retried_per_range() -> None:
    store = Store(failures=2)
    policy = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0)
    assert ranged_reader(len(DATA), store.fetch, block=4096, policy=policy).read() == DATA
    assert store.requests[:3] == [(0, 4096)] * 3


def test_permanent_failures_are_not_retried() -> None:
    store = Store(failures=1, error=StorageAccessDenied)
    with pytest.raises(StorageAccessDenied):
        ranged_reader(len(DATA), store.fetch, block=4096).read()
    assert len(store.requests) == 1


def test_an_empty_object_needs_no_request() -> None:
    store = Store()
    assert ranged_reader(0, store.fetch).read() == b""
    assert store.requests == []


def test_seeking_fetches_only_the_block_at_the_new_position() -> None:
    """Columnar readers read the footer first, then jump to the columns they need."""
    store = Store()
    handle = ranged_reader(len(DATA), store.fetch, block=4096, name="in/a.parquet")
    assert handle.seekable() and handle.name == "in/a.parquet"
    assert handle.seek(-100, 2) == len(DATA) - 100
    assert handle.read() == DATA[-100:]
    handle.seek(len(DATA) - 60)
    assert handle.read(10) == DATA[-60:-50]  # still in the block fetched for the footer
    handle.seek(5000)
    assert handle.tell() == 5000
    assert handle.read(3000) == DATA[5000:8000]
    assert store.requests == [(len(DATA) - 100, 100), (5000, 4096)]
    handle.seek(0)
    assert handle.read(1) == DATA[:1]
    assert store.requests[-1] == (0, 4096)
