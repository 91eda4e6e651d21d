"""A stand-in for Azure's managed identity endpoint (IMDS) on 127.0.0.1, reached by
azure-identity through AZURE_POD_IDENTITY_AUTHORITY_HOST: it records every token request,
and either answers with a token or drops the connection unanswered, as an identity
endpoint that is not there does."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TOKEN = "fake-managed-identity-token"


class IdentityEndpoint:
    def __init__(self, *, answer: bool) -> None:
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                endpoint.requests.append((parts.path, query, dict(self.headers.items())))
                if not answer:
                    self.close_connection = True
                    return  # no status line: the client sees the connection drop
                body = json.dumps(
                    {
                        "access_token": TOKEN,
                        "expires_in": "3600",
                        "expires_on": str(int(time.time()) + 3600),
                        "resource": query.get("resource", ""),
                        "token_type": "Bearer",
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> IdentityEndpoint:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
