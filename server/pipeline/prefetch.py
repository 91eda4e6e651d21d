"""Run an iterator on its own thread, a bounded number of items ahead of its consumer.

The export pipeline reads and transforms source batches (Parquet decoding, the query,
redaction) on one thread while the previous batch is being encoded on another; Polars
releases the GIL for all of that, so the two overlap on separate cores. Items, errors
and the end of the stream reach the consumer in order; leaving the `with` block stops
the producer and closes the iterator on the thread that ran it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

_POLL_SECONDS = 0.2


class _End:
    pass


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


@contextmanager
def prefetched(items: Iterable[T], depth: int, name: str) -> Generator[Iterator[T], None, None]:
    """Yield an iterator over `items` that a thread named `name` fills `depth` ahead."""
    slots: queue.Queue[T | _End | _Failure] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def offer(item: T | _End | _Failure) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not offer(item):
                    return
            offer(_End())
        except BaseException as exc:  # noqa: BLE001 - re-raised on the consuming thread
            offer(_Failure(exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    def consume() -> Iterator[T]:
        while True:
            item = slots.get()
            if isinstance(item, _End):
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    producer = threading.Thread(target=produce, name=name, daemon=True)
    producer.start()
    try:
        yield consume()
    finally:
        stop.set()
        producer.join()
