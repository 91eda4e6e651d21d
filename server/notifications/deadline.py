"""A whole-attempt deadline for one notification.

Socket timeouts bound each read, not the attempt: a receiver that sends one byte just
inside `notification_timeout_seconds`, again and again, would hold an attempt (and a
notifier slot) for as long as it likes. The attempt's connections are watched instead: when
the deadline passes, a timer shuts them down, the blocked read ends, and the attempt fails
as timed out (and is retried like any other failure). Connecting is given the time left
as its timeout; the name lookup before it is not bounded by the deadline (the resolver's
own timeouts apply).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType


class AttemptDeadline:
    """Used as `with AttemptDeadline(seconds) as deadline:` around one attempt; each
    connection the attempt opens is given to `watch` as soon as it is connected."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        # Duplicates of the watched sockets: shutting one down ends the connection for
        # every descriptor of it, even after TLS has taken the original over.
        self._watched: list[socket.socket] = []
        self._expired = False
        # Set when the attempt is over: a timer already firing then changes nothing (an
        # attempt that ended in time, marked expired, would be sent again).
        self._finished = False
        self._ends = time.monotonic() + seconds
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> AttemptDeadline:
        self._ends = time.monotonic() + self.seconds
        self._timer.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._timer.cancel()
        with self._lock:
            self._finished = True
            for twin in self._watched:
                twin.close()
            self._watched.clear()

    @property
    def expired(self) -> bool:
        with self._lock:
            return self._expired

    def left(self) -> float:
        """Seconds until the deadline, as a connect timeout (never 0, which would make the
        socket non-blocking: a passed deadline times the connect out at once)."""
        return max(0.001, self._ends - time.monotonic())

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock`'s connection down when the deadline passes (at once if it has)."""
        with self._lock:
            twin = sock.dup()
            self._watched.append(twin)
            if self._expired:
                _shut_down(twin)

    def _expire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self._expired = True
            for twin in self._watched:
                _shut_down(twin)


def _shut_down(sock: socket.socket) -> None:
    # Already closed by the other end: the attempt is over anyway.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
