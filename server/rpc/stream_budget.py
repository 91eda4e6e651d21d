"""A bounded budget of open streams, so streams cannot take the worker threads unary calls
and health checks need.

The synchronous gRPC server runs each call on a worker thread, and a stream (an idle
WatchExport, a health Watch, a reflection session) keeps its thread until it ends. Past
the budget a new stream is refused at once with RESOURCE_EXHAUSTED and RetryInfo (raised
as ServerBusy; DomainErrorInterceptor, outside this one, turns it into the status).

Health Watch streams need no principal, so they have a small budget of their own
(HEALTH_WATCH_STREAMS, taken from the workers streams never get): anonymous callers who
fill it are refused, and the principals' streams never wait for them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from grpc_health.v1 import health

from sluice.server.errors import ServerBusy
from sluice.server.rpc.handlers import rewrap

#: Health Watch streams open at once, anonymous callers' included: out of the
#: STREAM_FREE_WORKERS threads streams never take, so unary calls keep the others.
HEALTH_WATCH_STREAMS = 4
_HEALTH_PREFIX = f"/{health.SERVICE_NAME}/"


class StreamBudget:
    def __init__(self, limit: int, setting: str = "max_concurrent_streams") -> None:
        self.limit = limit
        #: What the refusal names as the limit reached.
        self.setting = setting
        self._slots = threading.BoundedSemaphore(limit)

    def try_acquire(self) -> bool:
        return self._slots.acquire(blocking=False)

    def release(self) -> None:
        self._slots.release()


class StreamBudgetInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Charges health streams to `health_budget` (default: HEALTH_WATCH_STREAMS of their
    own), every other stream to `budget`."""

    def __init__(self, budget: StreamBudget, health_budget: StreamBudget | None = None) -> None:
        self._budget = budget
        self._health_budget = health_budget or StreamBudget(
            HEALTH_WATCH_STREAMS, "health Watch streams"
        )

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        method: str = handler_call_details.method
        budget = self._health_budget if method.startswith(_HEALTH_PREFIX) else self._budget
        return rewrap(
            continuation(handler_call_details),
            streaming=lambda behavior: self._wrap(behavior, budget),
        )

    @staticmethod
    def _wrap(
        behavior: Callable[..., Iterator[Any]], budget: StreamBudget
    ) -> Callable[..., Iterator[Any]]:

        def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            # Runs on the worker thread at the stream's first read, so the slot is held
            # exactly as long as the thread is.
            if not budget.try_acquire():
                raise ServerBusy(
                    f"{budget.limit} streams are open, the most this server allows "
                    f"({budget.setting}); retry when one has ended"
                )
            try:
                yield from behavior(request, context)
            finally:
                budget.release()

        return wrapped
