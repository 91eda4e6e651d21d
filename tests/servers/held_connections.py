"""TCP proxies on 127.0.0.1 in front of PostgreSQL that hold a run at a point fixed by
the protocol, not by the machine's speed, once a client has sent a statement
containing `marker` (plain text: the test server has no TLS).

- HeldConnections holds every connection opened after the marker, before it reaches
  the server. A run reading key ranges on several connections exports its snapshot
  (pg_export_snapshot) and only then opens its other connections: held there, the test
  can commit writes after the run's snapshot was taken and before any other connection
  of the run ran its first statement (where a connection with a snapshot of its own
  would take it).
- HeldStatement holds the marked statement itself, on its own connection, before it
  reaches the server. A run reading on one connection takes its snapshot with its first
  statement and reads with a later one (COPY): held at the COPY, the test can commit
  writes between the two.
"""

from __future__ import annotations

import socket
import threading


class _Proxy:
    """Forwards each accepted connection to the upstream port; `_marked_passes` is told
    when the marker passes from a client towards the server."""

    def __init__(self, upstream_port: int, marker: bytes) -> None:
        self.upstream_port = upstream_port
        self.marker = marker
        #: Set once the marker passed (HeldStatement: reached the proxy).
        self.marked = threading.Event()
        self._open = threading.Event()
        self._open.set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def release(self) -> None:
        """Let what is held (and everything later) through."""
        self._open.set()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed by __exit__
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
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
                    self._marked_passes()
                tail = data[-len(self.marker) :]
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            source.close()

    def _marked_passes(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> _Proxy:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._open.set()
        self._listener.close()


class HeldConnections(_Proxy):
    def __init__(self, upstream_port: int, marker: bytes) -> None:
        super().__init__(upstream_port, marker)
        #: Connections opened after the marker passed: held until the release, or
        #: opened after it; either way their first statement comes after the release.
        self.opened_after_marker = 0

    def _serve(self, client: socket.socket) -> None:
        with self._lock:
            self.opened_after_marker += self.marked.is_set()
        self._open.wait()
        super()._serve(client)

    def _marked_passes(self) -> None:
        with self._lock:
            # Closed before the marker's statement reaches the server: no connection
            # opened on its answer can pass.
            self._open.clear()
            self.marked.set()

    def __enter__(self) -> HeldConnections:
        super().__enter__()
        return self


class HeldStatement(_Proxy):
    def _marked_passes(self) -> None:
        # The server runs a statement only once its whole message has arrived: holding
        # the bytes that complete the marker holds the statement (and everything after
        # it on this connection) until the release.
        self._open.clear()
        self.marked.set()
        self._open.wait()

    def __enter__(self) -> HeldStatement:
        super().__enter__()
        return self
