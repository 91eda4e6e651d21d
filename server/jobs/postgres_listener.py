"""LISTEN for the PostgreSQL store's job signals (server/jobs/signals.py) on a connection
of its own, on one thread, and hand each to the store's listeners.

A dropped connection is reopened (with a growing pause, up to a few seconds); listeners
then hear RESYNC, since what was sent meanwhile is lost. Nothing here is needed for
correctness: replicas poll the store anyway, this only makes them quick.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Final

import psycopg

from sluice.server.jobs.signals import CHANNEL, JobSignal, SignalKind, SignalListener, decode

_log = logging.getLogger("sluice.jobs")
#: How long one wait for notifications lasts before the thread looks whether to stop.
_WAKE_SECONDS: Final = 0.5
_MAX_RETRY_SECONDS: Final = 5.0


class SignalReceiver:
    """One LISTEN connection and thread, started with the first listener."""

    def __init__(self, connect: Callable[[], psycopg.Connection[Any]]) -> None:
        self._connect = connect
        self._listeners: list[SignalListener] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, listener: SignalListener) -> None:
        with self._lock:
            self._listeners.append(listener)
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="sluice-job-signals", daemon=True
                )
                self._thread.start()

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(_WAKE_SECONDS * 4)

    def _run(self) -> None:
        pause = 0.1
        connected_before = False
        while not self._stop.is_set():
            try:
                with self._connect() as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    pause = 0.1
                    if connected_before:
                        self._deliver(JobSignal(SignalKind.RESYNC))
                    connected_before = True
                    while not self._stop.is_set():
                        for notify in conn.notifies(timeout=_WAKE_SECONDS):
                            signal = decode(notify.payload)
                            if signal is not None:
                                self._deliver(signal)
            except psycopg.Error as exc:
                if self._stop.is_set():
                    return
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                _log.warning("job store notifications interrupted (%s); polling meanwhile", reason)
                connected_before = True
                self._stop.wait(pause)
                pause = min(pause * 2, _MAX_RETRY_SECONDS)

    def _deliver(self, signal: JobSignal) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(signal)
            except Exception:  # noqa: BLE001 - one listener must not silence the others
                _log.exception("a job signal listener failed")
