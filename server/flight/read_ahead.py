"""Items of an iterator produced on a thread of their own, a bounded number ahead of the
one consuming them.

DoGet fetches, verifies, decodes and serializes chunk N+1 while the RPC thread hands
chunk N to gRPC: on the RPC thread alone each stage waited for the others, so a DoGet
used about one core. The producer holds at most `depth` items ahead (memory stays
bounded whatever the client's pace); items, and the error that ended the iterator, reach
the consumer in order. When the consumer goes away (the call ended or was cancelled) the
producer stops at its next item and closes its iterator.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
_POLL_SECONDS = 0.2


class _Item(Generic[T]):
    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value


class _End:
    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


def read_ahead(
    items: Iterator[T], depth: int, name: str, alive: Callable[[], bool] = lambda: True
) -> Iterator[T]:
    """`items` in order, produced on a thread named `name` at most `depth` ahead; the
    producer also stops once `alive()` turns false."""
    slots: queue.Queue[_Item[T] | _End] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def wanted() -> bool:
        return not stop.is_set() and alive()

    def offer(slot: _Item[T] | _End) -> bool:
        while wanted():
            try:
                slots.put(slot, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(_Item(item)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            offer(_End(exc))
            return
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        offer(_End(None))

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            try:
                slot = slots.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                # A producer that stopped because alive() turned false queues no end:
                # without this the consumer would wait for it forever (a cancelled DoGet
                # holding its RPC thread).
                if thread.is_alive() or not slots.empty():
                    continue
                return
            if isinstance(slot, _End):
                if slot.error is not None:
                    raise slot.error
                return
            yield slot.value
    finally:
        stop.set()
