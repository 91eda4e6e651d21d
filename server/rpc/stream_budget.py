"""A bounded budget of open streams, so streams cannot take the worker threads unary calls
and health checks need.

The synchronous gRPC server runs each call on a worker thread, and a stream (an idle
WatchExport, a health Watch, a reflection session) keeps its thread until it ends. Past
the budget a new stream is refused at once with RESOURCE_EXHAUSTED and RetryInfo (raised
as ServerBusy; DomainErrorInterceptor, outside this one, turns it into the status)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from sluice.server.errors import ServerBusy
from sluice.server.rpc.handlers import rewrap


class StreamBudget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)

    def try_acquire(self) -> bool:
        return self._slots.acquire(blocking=False)

    def release(self) -> None:
        self._slots.release()


class StreamBudgetInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(self, budget: StreamBudget) -> None:
        self._budget = budget

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        return rewrap(continuation(handler_call_details), streaming=self._wrap)

    def _wrap(self, behavior: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        budget = self._budget

        def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            # Runs on the worker thread at the stream's first read, so the slot is held
            # exactly as long as the thread is.
            if not budget.try_acquire():
                raise ServerBusy(
                    f"{budget.limit} streams are open, the most this server allows "
                    "(max_concurrent_streams); retry when one has ended"
                )
            try:
                yield from behavior(request, context)
            finally:
                budget.release()

        return wrapped
