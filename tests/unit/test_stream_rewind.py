"""A stream export's retried attempt and the rows its failed attempt took: the inbox is
rewound, the put that sent them ends UNAVAILABLE (PutRewound), and a resumed put's rows
are read from the committed position exactly once."""

from __future__ import annotations

import threading
import time

import pyarrow as pa
import pytest

from sluice.server.pipeline import stream_source
from sluice.server.pipeline.stream_source import (
    Inbox,
    InboxRegistry,
    PutRewound,
    PutSuperseded,
    StreamRead,
    put_batch,
    put_end,
    read_stream,
)

SCHEMA = pa.schema([("n", pa.int64())])


def rows(start: int, count: int) -> pa.RecordBatch:
    return pa.record_batch([pa.array(range(start, start + count), pa.int64())], schema=SCHEMA)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> InboxRegistry:
    fresh = InboxRegistry()
    monkeypatch.setattr(stream_source, "INBOXES", fresh)
    return fresh


def read_all(key: str, from_row: int, out: list[int]) -> threading.Thread:
    stream = StreamRead(key=key, schema=SCHEMA, inflight_batches=4, idle_seconds=20)

    def run() -> None:
        for _, batch in read_stream(stream, from_row):
            out.extend(batch.column(0).to_pylist())

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_rows_past_the_committed_position_are_asked_for_again(registry: InboxRegistry) -> None:
    inbox = registry.inbox("e1", 4)
    first = inbox.attach()
    # The failed attempt read rows 0..30 and committed only 0..10; the put goes on at 30.
    put_batch(inbox, first, 30, rows(30, 10))
    out: list[int] = []
    reader = read_all("e1", 10, out)
    with pytest.raises(PutRewound):
        for _ in range(100):  # the reader rewinds as soon as it sees the gap
            put_batch(inbox, first, 40, rows(40, 10))
    with pytest.raises(PutRewound):
        inbox.check_not_rewound(first)
    second = inbox.attach()
    inbox.check_not_rewound(second)
    for start in range(10, 50, 10):
        put_batch(inbox, second, start, rows(start, 10))
    put_end(inbox, second, 50)
    reader.join(10)
    assert not reader.is_alive()
    assert out == list(range(10, 50))


def test_an_end_past_the_rows_read_is_a_gap_not_the_end(registry: InboxRegistry) -> None:
    inbox = registry.inbox("e2", 4)
    first = inbox.attach()
    put_end(inbox, first, 60)  # the failed attempt had read all 60 rows
    out: list[int] = []
    reader = read_all("e2", 20, out)
    second = inbox.attach()
    put_batch(inbox, second, 20, rows(20, 40))
    put_end(inbox, second, 60)
    reader.join(10)
    assert not reader.is_alive()
    assert out == list(range(20, 60))


def test_a_put_taken_over_without_a_rewind_is_superseded() -> None:
    inbox = Inbox(2)
    first = inbox.attach()
    inbox.attach()
    with pytest.raises(PutSuperseded):
        put_batch(inbox, first, 0, rows(0, 1))
    inbox.check_not_rewound(first)  # superseded, not rewound


def test_a_retry_after_the_whole_stream_was_taken_tells_the_finished_put(
    registry: InboxRegistry,
) -> None:
    """The failed attempt took every row and the end, so nothing more arrives: the
    retried attempt must still rewind, or the put (waiting for the export to finish)
    is never told to resend and the attempt waits out flight_put_idle_timeout."""
    inbox = registry.inbox("e4", 4)
    first = inbox.attach()
    put_batch(inbox, first, 0, rows(0, 30))
    put_end(inbox, first, 30)
    taken: list[int] = []
    read_all("e4", 0, taken).join(10)
    assert taken == list(range(30))
    out: list[int] = []
    reader = read_all("e4", 10, out)  # the retry: only rows 0..10 were committed
    deadline = time.monotonic() + 10
    while True:
        try:
            inbox.check_not_rewound(first)
        except PutRewound:
            break
        assert time.monotonic() < deadline, "the finished put was never told to resend"
        time.sleep(0.01)
    second = inbox.attach()
    put_batch(inbox, second, 10, rows(10, 20))
    put_end(inbox, second, 30)
    reader.join(10)
    assert not reader.is_alive()
    assert out == list(range(10, 30))
