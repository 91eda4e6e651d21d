"""What a failed webhook delivery records: never the URL's path or query (a receiver's
token), whatever http.client says about it."""

from __future__ import annotations

import pytest

from sluice.server.notifications.deadline import AttemptDeadline
from sluice.server.notifications.webhook import DeliveryFailed, post_webhook


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook?token=SEKRET one",
        "http://127.0.0.1:9/hook/SEKRET\x7f",
        "http://127.0.0.1:9/hook?token=SEKRET\u00e9",
    ],
)
def test_a_url_http_client_refuses_is_named_without_its_text(url: str) -> None:
    """http.client's InvalidURL quotes the path and query; the delivery's last_error and
    the notifier's log lines carried `?token=SEKRET one` to every reader of the export."""
    with AttemptDeadline(2) as deadline, pytest.raises(DeliveryFailed) as caught:
        post_webhook(url, b"{}", secret=b"k", delivery_id="d", timestamp=0, deadline=deadline)
    assert "SEKRET" not in str(caught.value)
    assert "cannot be sent in an HTTP request" in str(caught.value)
