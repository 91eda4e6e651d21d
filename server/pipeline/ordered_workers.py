"""Apply a function to a stream of items on a few worker threads, handing results on in
the items' order.

The pipeline's reader thread reads source batches one after another (reading is
sequential: file positions, a database cursor), but the query and redaction of one
batch do not depend on the next, and moderate redaction alone costs about as much CPU
as everything else of a JSON export. Polars releases the GIL for its kernels, so two
batches redacted at once overlap on two cores while the reader thread reads the next.

Guarantees, the same as applying the function in a plain loop:

- results come in the items' order, whatever order the workers finish in;
- an error (of the function on item k, or of the items' iterator after item k-1) is
  raised after the results of the items before it were handed on, and nothing after
  it is handed on;
- at most `workers` items are taken ahead of the consumer (being worked on, or done
  and waiting their turn), so memory stays bounded by a few batches;
- closing the iterator (the consumer left, a stop) cancels the items not started and
  waits for the ones under way (at most one function call each): no worker outlives it,
  and the items' generator is closed.
"""

from __future__ import annotations

import contextvars
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def in_order(
    function: Callable[[T], R], items: Iterable[T], workers: int, name: str
) -> Iterator[R]:
    """`function(item)` for each of `items`, in order, computed by up to `workers`
    threads (named after `name`) while this iterator's caller takes `items`."""
    if workers <= 1:
        yield from map(function, items)
        return
    iterator = iter(items)
    pool = ThreadPoolExecutor(workers, thread_name_prefix=name)
    pending: deque[Future[R]] = deque()
    try:
        while True:
            # Filled before waiting, so every worker has an item while this thread
            # waits for the oldest one.
            try:
                while len(pending) < workers:
                    item = next(iterator)
                    # A context copied per item: one context cannot be entered by two
                    # threads at once. The worker's log lines carry the caller's fields.
                    run = contextvars.copy_context().run
                    pending.append(pool.submit(run, function, item))
            except StopIteration:
                while pending:
                    yield pending.popleft().result()
                return
            except BaseException:
                # The read failed after the items under way: they go first, and one of
                # their own errors goes before the read's.
                while pending:
                    yield pending.popleft().result()
                raise
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)
        if isinstance(iterator, Generator):
            # Now, on the thread that read it: after an error the traceback keeps this
            # frame, and with it the read (a database cursor, a file), alive for as long
            # as the exception is.
            iterator.close()
