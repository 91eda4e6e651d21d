"""One webhook delivery attempt: a signed POST, success on any 2xx.

Redirects are not followed (a redirect could lead a signed body to plain http or to
another host); they count as failures like any non-2xx status.
"""

from __future__ import annotations

import http.client
import ssl
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from sluice.format.webhook_signature import DELIVERY_ID_HEADER, SIGNATURE_HEADER, sign_webhook
from sluice.server.notifications.deadline import AttemptDeadline

USER_AGENT: Final = "sluice-webhook/1"
#: How much of an error text is kept (the receiver chooses its reason phrases).
_ERROR_CHARS: Final = 200


class DeliveryFailed(Exception):
    """The attempt did not get a 2xx. The message is the generic reason callers see in
    GetExport ("connection failed", "HTTP 5xx"): a raw connection error or a receiver's
    reason text would let a principal probe what the daemon can reach. `detail`, the
    whole error, is for the daemon's log only."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.detail = detail or reason


def post_webhook(
    url: str,
    body: bytes,
    *,
    secret: bytes,
    delivery_id: str,
    timestamp: int,
    deadline: AttemptDeadline,
    ca_file: Path | None = None,
) -> None:
    """POST `body` signed with `secret` at `timestamp`; raise DeliveryFailed otherwise
    (also when `deadline` cuts the attempt short). https receivers are verified against
    `ca_file` (PEM), or the system's CAs."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    connection: _WatchedHTTP
    if parts.scheme == "https":
        connection = _WatchedHTTPS(
            parts.hostname or "",
            parts.port,
            timeout=deadline.seconds,
            context=ssl.create_default_context(cafile=str(ca_file) if ca_file else None),
        )
    else:
        connection = _WatchedHTTP(parts.hostname or "", parts.port, timeout=deadline.seconds)
    connection.deadline = deadline
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign_webhook(secret, body, timestamp),
        DELIVERY_ID_HEADER: delivery_id,
    }
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(64 * 1024)
        status, reason = response.status, response.reason
    except (http.client.InvalidURL, UnicodeError) as exc:
        # Their text quotes the path and query, where a receiver's token may be.
        raise DeliveryFailed(
            f"{type(exc).__name__}: the URL cannot be sent in an HTTP request"
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise DeliveryFailed(
            "TLS certificate not trusted (CERTIFICATE_VERIFY_FAILED)", _detail(exc)
        ) from None
    except (TimeoutError, OSError, http.client.HTTPException) as exc:
        raise DeliveryFailed("connection failed", _detail(exc)) from None
    finally:
        connection.close()
    if not 200 <= status < 300:
        raise DeliveryFailed(
            f"HTTP {status // 100}xx", short_error(f"HTTP {status} {reason}".strip())
        )


def _detail(exc: BaseException) -> str:
    return short_error(f"{type(exc).__name__}: {exc}")


class _WatchedHTTP(http.client.HTTPConnection):
    """A connection whose socket its attempt's deadline watches from the moment it is
    connected, so a trickling answer cannot outlast the deadline."""

    deadline: AttemptDeadline

    def connect(self) -> None:
        # Connecting gets the time left (the socket is watched only once connected).
        self.timeout = self.deadline.left()
        super().connect()
        self.deadline.watch(self.sock)


class _WatchedHTTPS(http.client.HTTPSConnection, _WatchedHTTP):
    """HTTPSConnection.connect calls _WatchedHTTP.connect (next in the MRO) for the TCP
    connection, then wraps it in TLS: the handshake is within the deadline too."""


def short_error(text: str) -> str:
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 1] + "…"
