"""Receiving Sluice's export-end webhooks: signature verification (no server imports).

Receiver side (any web framework; verify the raw body before parsing it):

    from sluice.client import WebhookSignatureError, verify_webhook

    try:
        verify_webhook(SECRET, request.body, request.headers["Sluice-Signature"])
    except WebhookSignatureError:
        return 400
    if seen(request.headers["Sluice-Delivery-Id"]):   # deliveries are at least once
        return 200
    handle(json.loads(request.body))
"""

from __future__ import annotations

from sluice.client._errors import SluiceError
from sluice.format import webhook_signature


class WebhookSignatureError(SluiceError):
    """A webhook's Sluice-Signature is missing, malformed, stale or does not match."""

    code = "UNAUTHENTICATED"


def verify_webhook(
    secret: bytes | str,
    body: bytes,
    signature: str,
    *,
    tolerance_seconds: float = webhook_signature.DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check the Sluice-Signature header (`signature`) of a webhook against its raw
    `body` and the shared `secret`; return the signed unix timestamp. Raises
    WebhookSignatureError when it does not verify or is older than `tolerance_seconds`."""
    try:
        return webhook_signature.verify_webhook(
            secret, body, signature, tolerance_seconds=tolerance_seconds, now=now
        )
    except webhook_signature.WebhookSignatureError as exc:
        raise WebhookSignatureError(str(exc)) from None
