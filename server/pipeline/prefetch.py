"""Run an iterator on its own thread, a bounded number of items ahead of its consumer.

The export pipeline reads and transforms source batches (Parquet decoding, the query,
redaction) on one thread while the previous batch is being encoded on another; Polars
releases the GIL for all of that, so the two overlap on separate cores. Items, errors
and the end of the stream reach the consumer in order; leaving the `with` block stops
the producer and closes the iterator on the thread that ran it.

A producer can be stuck in I/O (a database statement that has not returned a row yet):
given the export's stop, the consumer stops waiting for it once the stop is set, and
`interrupt` (cancelling the statements) unblocks it when the consumer leaves early.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sluice.server.errors import Interrupted

T = TypeVar("T")

_POLL_SECONDS = 0.2
#: How often a producer that has not ended is interrupted again: a statement being sent
#: just as the first cancel came may have missed it.
_INTERRUPT_AGAIN_SECONDS = 1.0
#: After the export's stop, how long leaving waits for a producer that interrupting did
#: not end (a server the cancel cannot reach): then it is left to end on its own (it
#: hands nothing on any more), so the export still stops.
ABANDON_SECONDS = 5.0
_log = logging.getLogger(__name__)


class _End:
    pass


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


@contextmanager
def prefetched(
    items: Iterable[T],
    depth: int,
    name: str,
    *,
    stop: threading.Event | None = None,
    interrupt: Callable[[], None] | None = None,
) -> Generator[Iterator[T], None, None]:
    """Yield an iterator over `items` that a thread named `name` fills `depth` ahead.

    Once `stop` (the export's) is set, the iterator raises Interrupted rather than wait
    for the next item. `interrupt` is called when the consumer leaves before the end,
    so that a producer blocked in I/O ends (its error is then dropped)."""
    slots: queue.Queue[T | _End | _Failure] = queue.Queue(maxsize=max(1, depth))
    # Set when the consumer leaves: the producer offers nothing more.
    left = threading.Event()
    ended = False

    def offer(item: T | _End | _Failure) -> bool:
        while not left.is_set():
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
        nonlocal ended
        while True:
            if stop is None:
                item = slots.get()
            else:
                # A ready item is taken without waiting: the poll costs nothing per item.
                try:
                    item = slots.get(timeout=_POLL_SECONDS)
                except queue.Empty:
                    if stop.is_set():
                        raise Interrupted("export interrupted") from None
                    continue
            if isinstance(item, _End | _Failure):
                ended = True
            if isinstance(item, _End):
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    # In the caller's context: the producer's log lines carry the export's fields and its
    # spans nest under the caller's.
    producer = threading.Thread(
        target=contextvars.copy_context().run, args=(produce,), name=name, daemon=True
    )
    producer.start()
    try:
        yield consume()
    finally:
        left.set()
        _await(producer, None if ended else interrupt, stop)


def _await(
    producer: threading.Thread, interrupt: Callable[[], None] | None, stop: threading.Event | None
) -> None:
    """Wait for the producer to end, interrupting it while it does not; once the stop is
    set, at most ABANDON_SECONDS."""
    if interrupt is None and stop is None:
        producer.join()
        return
    since = time.monotonic()
    interrupting: threading.Thread | None = None
    interrupted = -_INTERRUPT_AGAIN_SECONDS
    while producer.is_alive():
        waited = time.monotonic() - since
        again = waited - interrupted >= _INTERRUPT_AGAIN_SECONDS
        if interrupt is not None and again and not (interrupting and interrupting.is_alive()):
            # On its own thread, one at a time: a cancel request to a server that does
            # not answer can block for minutes, and the wait here must stay bounded.
            interrupting = threading.Thread(
                target=contextvars.copy_context().run,
                args=(interrupt,),
                name=f"{producer.name}-interrupt",
                daemon=True,
            )
            interrupting.start()
            interrupted = waited
        if stop is not None and stop.is_set() and waited >= ABANDON_SECONDS:
            _log.warning(
                "%s did not end within %gs of the stop; leaving it to end on its own",
                producer.name,
                ABANDON_SECONDS,
            )
            return
        producer.join(_POLL_SECONDS)
