"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 (its own thread) that
answers each POST as scripted (a status code, or "drop": close the connection without
answering) and keeps every request it got."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    #: The scripted answer it got (status code, or "drop").
    answer: int | str


class WebhookReceiver:
    def __init__(
        self,
        script: list[int | str] | None = None,
        default: int | str = 200,
        tls: ssl.SSLContext | None = None,
        delay: float = 0.0,
    ) -> None:
        """`tls`: serve https with this server context; `delay`: seconds to hold each
        request (already in `received`) before answering it."""
        self.script = list(script or [])
        self.default = default
        self.received: list[Received] = []
        self._lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    answer = receiver.script.pop(0) if receiver.script else receiver.default
                    receiver.received.append(
                        Received(self.path, dict(self.headers.items()), body, answer)
                    )
                    receiver._lock.notify_all()
                time.sleep(delay)
                if answer == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                assert isinstance(answer, int)
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """Block until at least `count` requests arrived; return them all."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"got {len(self.received)} of {count} webhook requests")
                self._lock.wait(left)
            return list(self.received)

    @contextmanager
    def running(self) -> Iterator[WebhookReceiver]:
        self._thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
