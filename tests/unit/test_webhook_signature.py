"""Webhook signatures: what the daemon signs, the client helper verifies, and nothing
else (tampered body, other key, stale or malformed header); and the retry backoff."""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest

from sluice.client import WebhookSignatureError, verify_webhook
from sluice.format.webhook_signature import sign_webhook
from sluice.server.notifications.notifier import backoff_seconds
from sluice.server.settings import Settings

SECRET = b"k" * 32
BODY = b'{"export_id":"x","state":"succeeded"}'
T = 1_750_000_000


def test_the_header_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET, f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign_webhook(SECRET, BODY, T) == f"t={T},v1={expected}"
    assert verify_webhook(SECRET, BODY, sign_webhook(SECRET, BODY, T), now=T + 10) == T
    # str secrets are their UTF-8 bytes; several v1 values (key rotation): any may match.
    other = sign_webhook(b"old", BODY, T).split(",")[1]
    assert (
        verify_webhook(SECRET.decode(), BODY, f"{sign_webhook(SECRET, BODY, T)},{other}", now=T)
        == T
    )


@pytest.mark.parametrize(
    ("body", "header", "now"),
    [
        (BODY + b" ", sign_webhook(SECRET, BODY, T), T),  # body changed
        (BODY, sign_webhook(b"other", BODY, T), T),  # another key
        (BODY, sign_webhook(SECRET, BODY, T), T + 301),  # too old
        (BODY, sign_webhook(SECRET, BODY, T), T - 301),  # from the future
        (BODY, f"t={T}", T),  # no v1
        (BODY, "v1=abc", T),  # no t
        (BODY, "t=soon,v1=abc", T),  # t not a number
        (BODY, "", T),
        (BODY, f"t={T},v1=\u00e9\u00e9", T),  # non-ASCII signature: was a TypeError
    ],
)
def test_anything_else_is_refused(body: bytes, header: str, now: int) -> None:
    with pytest.raises(WebhookSignatureError) as caught:
        verify_webhook(SECRET, body, header, now=now)
    assert caught.value.code == "UNAUTHENTICATED"


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    settings = Settings(notification_backoff_seconds=1.0, notification_max_backoff_seconds=8.0)
    rng = random.Random(7)
    for attempts, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0), (500, 8.0)]:
        delays = [backoff_seconds(attempts, settings, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1
