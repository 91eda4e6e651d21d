"""One e-mail delivery attempt through the configured SMTP server: a short plain-text
and HTML message about an export's end (no data, no secrets).

STARTTLS verifies the server's certificate (the system's CAs, or smtp.ca_file) before
the password or the message is sent; a server that does not offer STARTTLS fails the
attempt rather than sending in clear. The Message-ID is the delivery id, the same on
every attempt, so a mail system (or a reader) can tell a retry from a new message.
"""

from __future__ import annotations

import html
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from sluice.server.jobs.model import Job, NotificationDelivery
from sluice.server.notifications.deadline import AttemptDeadline
from sluice.server.notifications.webhook import DeliveryFailed, short_error
from sluice.server.secrets import resolve_secret
from sluice.server.settings import SmtpSettings


def export_email(
    job: Job, delivery: NotificationDelivery, sender: str, recipients: tuple[str, ...]
) -> EmailMessage:
    dataset = job.spec.destination.dataset
    lines = [
        f"Export {job.id} of dataset {dataset} {job.state.value}.",
        "",
        f"Records: {job.progress.records}",
        f"Chunks: {job.progress.chunks}",
        f"Stored bytes: {job.progress.stored_bytes}",
    ]
    if job.finished_at is not None:
        lines.append(f"Finished: {job.finished_at.isoformat()}")
    if job.manifest_uri:
        lines.append(f"Manifest: {job.manifest_uri}")
    if job.error is not None:
        lines.append(f"Error: {job.error.code}: {job.error.message}")
    message = EmailMessage()
    message["Subject"] = f"Sluice export {dataset} {job.state.value} ({job.id})"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = f"<{delivery.delivery_id}@sluice>"
    message["Sluice-Delivery-Id"] = delivery.delivery_id
    message.set_content("\n".join(lines) + "\n")
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines[2:])
    message.add_alternative(
        f"<html><body><p>{html.escape(lines[0])}</p><ul>{items}</ul></body></html>\n",
        subtype="html",
    )
    return message


def send_email(smtp: SmtpSettings, message: EmailMessage, *, deadline: AttemptDeadline) -> None:
    """Send `message`; raise DeliveryFailed (why, never the password) otherwise (also
    when `deadline` cuts the attempt short)."""
    try:
        with _WatchedSMTP(smtp.host, smtp.port, deadline) as client:
            client.ehlo()
            if smtp.starttls:
                context = ssl.create_default_context(
                    cafile=str(smtp.ca_file) if smtp.ca_file else None
                )
                client.starttls(context=context)
                client.ehlo()
            if smtp.user:
                password = resolve_secret(smtp.password_ref).decode() if smtp.password_ref else ""
                client.login(smtp.user, password)
            client.send_message(message)
    except smtplib.SMTPResponseException as exc:
        raise DeliveryFailed(short_error(f"SMTP {exc.smtp_code}")) from None
    except smtplib.SMTPRecipientsRefused as exc:
        # Its text is every refused address with the server's reply (which quotes the
        # address again): the codes alone say why.
        codes = ", ".join(sorted({str(code) for code, _ in exc.recipients.values()}))
        raise DeliveryFailed(f"SMTP {codes}: the mail server refused the recipient") from None
    except ssl.SSLCertVerificationError as exc:
        # The mail server is the operator's own ([smtp]), not a principal's choice: its
        # certificate's fault is worth saying in GetExport, and probes nothing.
        raise DeliveryFailed(
            short_error(f"TLS certificate not trusted: {exc.verify_message}"),
            short_error(f"{type(exc).__name__}: {exc}"),
        ) from None
    except ssl.SSLError as exc:
        raise DeliveryFailed(
            short_error(f"TLS failed: {exc.reason or type(exc).__name__}"),
            short_error(f"{type(exc).__name__}: {exc}"),
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        # smtplib's own words ("STARTTLS extension not supported by server.").
        raise DeliveryFailed(short_error(f"SMTP: {exc}")) from None
    except (smtplib.SMTPException, OSError) as exc:
        # Generic for GetExport, as a webhook's; the whole error for the daemon's log.
        raise DeliveryFailed(
            "connection failed", short_error(f"{type(exc).__name__}: {exc}")
        ) from None


class _WatchedSMTP(smtplib.SMTP):
    """An SMTP client whose socket its attempt's deadline watches from the moment it is
    connected (before the greeting is read), so a trickling server cannot outlast it."""

    def __init__(self, host: str, port: int, deadline: AttemptDeadline) -> None:
        self._deadline = deadline
        super().__init__(host, port, timeout=deadline.seconds)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # smtplib's own way to open its connection (SMTP_SSL and LMTP override it too).
        # Connecting gets the time left (the socket is watched only once connected).
        sock = socket.create_connection((host, port), self._deadline.left(), self.source_address)
        self._deadline.watch(sock)
        return sock
