"""A server for tests that never finishes answering: on each connection (127.0.0.1, its
own thread) it sends a prefix, then one more byte every `every` seconds, until stopped.
Each byte arrives well within a client's socket timeout, so only a deadline on the whole
exchange ends it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class TricklingServer:
    def __init__(self, prefix: bytes, every: float = 0.5) -> None:
        self.prefix = prefix
        self.every = every
        self.connections = 0
        self._arrived = threading.Condition()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, connections: int, timeout: float = 120) -> None:
        with self._arrived:
            if not self._arrived.wait_for(lambda: self.connections >= connections, timeout):
                raise AssertionError(f"{self.connections} of {connections} connections came")

    @contextmanager
    def running(self) -> Iterator[TricklingServer]:
        threading.Thread(target=self._accept, daemon=True).start()
        try:
            yield self
        finally:
            self._stop.set()
            self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with self._arrived:
                self.connections += 1
                self._arrived.notify_all()
            threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection: socket.socket) -> None:
        with connection:
            try:
                connection.sendall(self.prefix)
                while not self._stop.wait(self.every):
                    connection.sendall(b"X")
            except OSError:
                return
