"""A TCP proxy on 127.0.0.1 in front of PostgreSQL that, once a client has sent a
statement containing `marker` (plain text: the test server has no TLS), holds every
connection opened after it, before it reaches the server, until the test releases them.

Why: a run reading key ranges on several connections exports its snapshot
(pg_export_snapshot) and only then opens its other connections. Held there, the test
can commit writes at a moment that is fixed by the protocol, not by the machine's
speed: after the run's snapshot was taken and before any other connection of the run
ran its first statement (where a connection with a snapshot of its own would take it).
"""

from __future__ import annotations

import socket
import threading


class HeldConnections:
    def __init__(self, upstream_port: int, marker: bytes) -> None:
        self.upstream_port = upstream_port
        self.marker = marker
        #: Set once the marker passed; the connections opened after it are held.
        self.marked = threading.Event()
        #: Connections opened after the marker passed: held until the release, or
        #: opened after it; either way their first statement comes after the release.
        self.opened_after_marker = 0
        self._open = threading.Event()
        self._open.set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def release(self) -> None:
        """Let the held connections (and every later one) through."""
        self._open.set()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed by stop()
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with self._lock:
            self.opened_after_marker += self.marked.is_set()
        self._open.wait()
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        except OSError:
            client.close()
            return
        threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()
        self._pump(client, upstream, True)

    def _pump(self, source: socket.socket, sink: socket.socket, watch: bool) -> None:
        tail = b""
        try:
            while data := source.recv(65536):
                if watch and not self.marked.is_set() and self.marker in tail + data:
                    with self._lock:
                        # Closed before the marker's statement reaches the server: no
                        # connection opened on its answer can pass.
                        self._open.clear()
                        self.marked.set()
                tail = data[-len(self.marker) :]
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            source.close()

    def __enter__(self) -> HeldConnections:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._open.set()
        self._listener.close()
