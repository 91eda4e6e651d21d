"""Webhook signatures, shared by the daemon (signing) and the client (verifying).

`Sluice-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, as Stripe
signs its webhooks: the timestamp is inside the MAC, so a captured delivery cannot be
replayed later than the receiver's tolerance, and the body is MACed byte for byte as
sent (verify the raw bytes, before any JSON parsing).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Final

SIGNATURE_HEADER: Final = "Sluice-Signature"
DELIVERY_ID_HEADER: Final = "Sluice-Delivery-Id"
#: Receivers refuse signatures older (or newer) than this by default.
DEFAULT_TOLERANCE_SECONDS: Final = 300


class WebhookSignatureError(ValueError):
    """The signature header is missing, malformed, stale or does not match the body."""


def sign_webhook(secret: bytes, body: bytes, timestamp: int) -> str:
    """The Sluice-Signature header value for `body` sent at `timestamp` (unix seconds)."""
    return f"t={timestamp},v1={_mac(secret, body, timestamp)}"


def verify_webhook(
    secret: bytes | str,
    body: bytes,
    signature: str,
    *,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check a Sluice-Signature header against the raw request body; return its
    timestamp. Raises WebhookSignatureError when the header is malformed, its timestamp
    is further than `tolerance_seconds` from `now`, or no v1 value matches."""
    key = secret.encode() if isinstance(secret, str) else secret
    timestamp: int | None = None
    candidates: list[str] = []
    for item in (signature or "").split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise WebhookSignatureError("signature timestamp is not a number") from None
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise WebhookSignatureError("signature header lacks t= or v1=")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise WebhookSignatureError("signature timestamp is outside the tolerance")
    expected = _mac(key, body, timestamp)
    # Rotating keys: a sender may add one v1 per key; any match is enough.
    # As bytes: compare_digest refuses str holding non-ASCII (a forged header would make
    # the receiver's check raise TypeError instead of this error).
    wanted = expected.encode()
    if not any(
        hmac.compare_digest(wanted, candidate.encode("utf-8", "surrogatepass"))
        for candidate in candidates
    ):
        raise WebhookSignatureError("signature does not match the body")
    return timestamp


def _mac(secret: bytes, body: bytes, timestamp: int) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
