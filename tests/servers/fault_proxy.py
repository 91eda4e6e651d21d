"""An HTTP proxy on 127.0.0.1 in front of a storage server that fails a fraction of
requests (503 or a reset connection, before or after the server handled them) and counts
the body bytes of part uploads, so tests can see what was re-sent, and the byte ranges
of object reads, so tests can see that reads were ranged."""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


@dataclass
class FaultPlan:
    """Probabilities per request; the rest pass through untouched."""

    unavailable: float = 0.0  # answer 503 without forwarding
    reset_before: float = 0.0  # reset the connection without forwarding
    reset_after: float = 0.0  # forward, then reset instead of answering (answer lost)
    #: Seconds each part/block upload is held before it is forwarded: a slow link, so a
    #: test can act while a chunk is still uploading however fast the pipeline is.
    part_delay: float = 0.0
    #: An outage: from this request number on (1-based; 0 never) every request is
    #: answered 503, until a test sets it back to 0.
    unavailable_from: int = 0
    #: Seconds every object upload (a part, a block or a whole-object PUT) is held: a
    #: slow sink, whatever the chunks' sizes.
    put_delay: float = 0.0
    #: Seconds every GET is held before it is forwarded: a store's round trip (about
    #: 0.02-0.05 s to S3 from within its region), which loopback moto lacks.
    get_delay: float = 0.0
    seed: int = 7
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)


class FaultProxy:
    def __init__(self, upstream_port: int, plan: FaultPlan | None = None) -> None:
        self.upstream_port = upstream_port
        self.plan = plan or FaultPlan()
        self.lock = threading.Lock()
        self.faults: Counter[str] = Counter()
        self.requests = 0
        #: Bytes of part/block upload bodies that reached the server.
        self.part_bytes = 0
        #: (path, "bytes=a-b") of every GET that asked for a byte range (S3 Range, Azure
        #: x-ms-range).
        self.ranged_reads: list[tuple[str, str]] = []
        #: Access key ids that signed requests (SigV4 Authorization), and AWS query API
        #: actions (STS "AssumeRoleWithWebIdentity"), so tests see which identity was used.
        self.signing_keys: Counter[str] = Counter()
        self.actions: Counter[str] = Counter()
        #: Cleared while parts are held (`parts_held`).
        self._parts_open = threading.Event()
        self._parts_open.set()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if len(body) < length:
                    # The client died mid-request (SIGKILL): a real server discards it.
                    self.close_connection = True
                    return
                proxy._identify(self.headers.get("Authorization", ""), body)
                wanted = self.headers.get("x-ms-range") or self.headers.get("Range")
                if self.command == "GET" and wanted:
                    with proxy.lock:
                        proxy.ranged_reads.append((urlsplit(self.path).path, wanted))
                query = parse_qs(urlsplit(self.path).query)
                is_part = self.command == "PUT" and ("partNumber" in query or "blockid" in query)
                if is_part:
                    proxy._parts_open.wait()
                if is_part and proxy.plan.part_delay:
                    time.sleep(proxy.plan.part_delay)
                if self.command == "PUT" and proxy.plan.put_delay:
                    time.sleep(proxy.plan.put_delay)
                if self.command == "GET" and proxy.plan.get_delay:
                    time.sleep(proxy.plan.get_delay)
                fault = proxy._draw()
                if fault == "unavailable":
                    self._answer(503, b"<Error><Code>SlowDown</Code></Error>")
                    return
                if fault == "reset_before":
                    self._reset()
                    return
                status, headers, payload = proxy._forward(
                    self.command, self.path, dict(self.headers.items()), body
                )
                if is_part:
                    with proxy.lock:
                        proxy.part_bytes += len(body)
                if fault == "reset_after":
                    self._reset()
                    return
                self.send_response(status)
                head = self.command == "HEAD"  # keeps the upstream Content-Length
                for name, value in headers:
                    lowered = name.lower()
                    if lowered not in _HOP_BY_HOP and (head or lowered != "content-length"):
                        self.send_header(name, value)
                if not head:
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            def _answer(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _reset(self) -> None:
                # SO_LINGER 0: close() sends RST, as a dropped connection looks to a client.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _identify(self, authorization: str, body: bytes) -> None:
        with self.lock:
            if "Credential=" in authorization:
                self.signing_keys[authorization.split("Credential=", 1)[1].split("/", 1)[0]] += 1
            if body.startswith(b"Action="):
                for action in parse_qs(body.decode(errors="replace")).get("Action", []):
                    self.actions[action] += 1

    def _draw(self) -> str:
        plan = self.plan
        with self.lock:
            self.requests += 1
            if plan.unavailable_from and self.requests >= plan.unavailable_from:
                self.faults["unavailable"] += 1
                return "unavailable"
            roll = plan.rng.random()
            for name, chance in (
                ("unavailable", plan.unavailable),
                ("reset_before", plan.reset_before),
                ("reset_after", plan.reset_after),
            ):
                if roll < chance:
                    self.faults[name] += 1
                    return name
                roll -= chance
        return ""

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
        try:
            forwarded = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(method, path, body=body or None, headers=forwarded)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    @contextmanager
    def parts_held(self) -> Iterator[None]:
        """Hold every part/block upload that arrives inside the block until it ends (the
        held ones are forwarded then): a daemon restarting inside it cannot finish an
        export before the test sees it serving, however fast its pipeline is."""
        self._parts_open.clear()
        try:
            yield
        finally:
            self._parts_open.set()

    def start(self) -> FaultProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
