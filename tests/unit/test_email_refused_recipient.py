"""A recipient the mail server refuses is recorded as the server's code, never the
address: a delivery's last error is shown by `export get` and kept after the export is
deleted (its mailto target is masked then, README "Security notes")."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from sluice.server.notifications.deadline import AttemptDeadline
from sluice.server.notifications.email import send_email
from sluice.server.notifications.webhook import DeliveryFailed
from sluice.server.settings import SmtpSettings
from tests.daemon import free_port


class _RefusesEveryone:
    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        return f"550 5.1.1 <{address}>: no such user"


def test_a_refused_recipient_is_told_by_code_not_by_address() -> None:
    controller = Controller(_RefusesEveryone(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        message = EmailMessage()
        message["From"] = "sluice@example.com"
        message["To"] = "alice.refused@example.com"
        message["Subject"] = "export done"
        message.set_content("done")
        smtp = SmtpSettings.model_validate(
            {
                "host": "127.0.0.1",
                "port": controller.port,
                "starttls": False,
                "from": "s@example.com",
            }
        )
        with AttemptDeadline(10) as deadline, pytest.raises(DeliveryFailed) as failed:
            send_email(smtp, message, deadline=deadline)
    finally:
        controller.stop()
    assert "alice.refused" not in str(failed.value)
    assert "550" in str(failed.value)
