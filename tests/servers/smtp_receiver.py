"""A real SMTP server for tests (aiosmtpd) on 127.0.0.1 that requires STARTTLS and a
login before it accepts mail, and keeps every message it got."""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.daemon import free_port


@dataclass(frozen=True)
class Mail:
    sender: str
    recipients: list[str]
    raw: bytes
    starttls: bool
    login: tuple[str, str] | None

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class SmtpReceiver:
    def __init__(self, cert_file: Path, key_file: Path) -> None:
        self.port = free_port()
        self.mails: list[Mail] = []
        self._done = threading.Condition()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        self._logins: dict[int, tuple[str, str]] = {}
        self._controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=self._authenticate,
        )

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login = (auth_data.login.decode(), auth_data.password.decode())
            self._logins[id(session)] = login
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = Mail(
            sender=envelope.mail_from,
            recipients=list(envelope.rcpt_tos),
            raw=bytes(envelope.original_content or envelope.content),
            starttls=session.ssl is not None,
            login=self._logins.get(id(session)),
        )
        with self._done:
            self.mails.append(mail)
            self._done.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Mail]:
        deadline = time.monotonic() + timeout
        with self._done:
            while len(self.mails) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"got {len(self.mails)} of {count} mails")
                self._done.wait(left)
            return list(self.mails)

    def __enter__(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._controller.stop()
