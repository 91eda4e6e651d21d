"""Notify targets: checking a request's `notify` entries (at planning, before any I/O)
and resolving one to the webhook or e-mail recipients it names (at each delivery
attempt, so a configured URL, address or secret may change between attempts)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from sluice.server.errors import FailedPrecondition, InvalidArgument
from sluice.server.secrets import resolve_secret
from sluice.server.settings import Settings, is_email_address, webhook_url_problem

#: Targets one export may notify.
MAX_TARGETS: Final = 10


@dataclass(frozen=True)
class Webhook:
    url: str
    #: The HMAC key (resolved from its reference; never logged, stored or shown).
    secret: bytes = field(repr=False)


@dataclass(frozen=True)
class Email:
    recipients: tuple[str, ...]


MAILTO: Final = "mailto:"


def is_url(target: str) -> bool:
    return "://" in target


def check_notify(targets: tuple[str, ...], settings: Settings) -> None:
    """Raise InvalidArgument on field "spec.notify" for an entry the daemon cannot deliver."""
    if len(targets) > MAX_TARGETS:
        raise InvalidArgument("spec.notify", f"at most {MAX_TARGETS} targets")
    if len(set(targets)) != len(targets):
        raise InvalidArgument("spec.notify", "names a target twice")
    for target in targets:
        if target.startswith(MAILTO):
            address = target.removeprefix(MAILTO)
            if not is_email_address(address):
                raise InvalidArgument("spec.notify", f"'{target}' is not a mailto: address")
            if settings.smtp is None:
                raise InvalidArgument(
                    "spec.notify", "e-mail notifications need [smtp] in the daemon config"
                )
        elif is_url(target):
            problem = webhook_url_problem(target, allow_insecure=settings.allow_insecure_webhooks)
            if problem:
                raise InvalidArgument("spec.notify", f"{shown(target)} {problem}")
            if not settings.webhook_secret_ref:
                raise InvalidArgument(
                    "spec.notify",
                    f"{shown(target)}: webhooks by URL need webhook_secret_ref in the daemon"
                    " config to be signed; or name a configured [notifications.NAME]",
                )
        elif target not in settings.notifications:
            known = ", ".join(sorted(settings.notifications)) or "none configured"
            raise InvalidArgument("spec.notify", _unknown_target(target, known))


#: What an unknown target must look like to be echoed: a configured notification's name
#: as a TOML bare key spells it. Anything else may carry a secret (a URL without its
#: scheme: hooks.slack.com/services/T/B/TOKEN, user:pw@host, host?token=...).
_NAME_SHAPE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _unknown_target(target: str, known: str) -> str:
    if _NAME_SHAPE.fullmatch(target):
        return f"'{target}' is neither a URL nor a configured notification ({known})"
    return f"an unknown target (not a URL or configured name; configured: {known})"


def check_secrets(settings: Settings) -> None:
    """Read every secret notifications use once (the daemon's start): FailedPrecondition
    naming the setting of one that cannot be read. Deliveries read them again, so a
    rotated file is used from the next one."""
    references = {"webhook_secret_ref": settings.webhook_secret_ref}
    for name, named in sorted(settings.notifications.items()):
        if named.url:
            references[f"notifications.{name}.secret_ref"] = named.secret_ref
    if settings.smtp is not None:
        references["smtp.password_ref"] = settings.smtp.password_ref
    for setting, reference in references.items():
        if not reference:
            continue
        try:
            resolve_secret(reference)
        except FailedPrecondition as exc:
            raise FailedPrecondition(f"{setting}: {exc.message}") from None


def resolve_target(target: str, settings: Settings) -> Webhook | Email:
    """What `target` means now: a webhook (URL and key) or e-mail recipients.
    FailedPrecondition when it can no longer be delivered (name removed from the
    config, secret unreadable, no [smtp])."""
    if target.startswith(MAILTO):
        recipients: tuple[str, ...] = (target.removeprefix(MAILTO),)
    elif is_url(target):
        return _webhook(target, target, settings.webhook_secret_ref, settings)
    else:
        named = settings.notifications.get(target)
        if named is None:
            raise FailedPrecondition(f"notification '{target}' is no longer configured")
        if named.url:
            return _webhook(target, named.url, named.secret_ref, settings)
        recipients = named.email
    if settings.smtp is None:
        raise FailedPrecondition("e-mail notifications need [smtp] in the daemon config")
    return Email(recipients)


def _webhook(target: str, url: str, secret_ref: str, settings: Settings) -> Webhook:
    reference = secret_ref or settings.webhook_secret_ref
    if not reference:
        raise FailedPrecondition(f"webhook {shown(target)} has no signing secret configured")
    problem = webhook_url_problem(url, allow_insecure=settings.allow_insecure_webhooks)
    if problem:
        raise FailedPrecondition(f"webhook {shown(target)} {problem}")
    return Webhook(url=url, secret=resolve_secret(reference))


def shown(target: str) -> str:
    """A target as logs, errors and GetExport show it: a URL as scheme://host[:port]/…,
    a name or mailto: as it is. User info, query and fragment may carry tokens, and so
    may the path (Slack's /services/T/B/SECRET, Discord's /api/webhooks/ID/TOKEN): only
    the receiver gets the full URL."""
    if not is_url(target):
        return target
    try:
        parts = urlsplit(target)
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if parts.port is not None:
            netloc += f":{parts.port}"
    except ValueError:
        return "(invalid URL)"
    elided = parts.path not in {"", "/"} or parts.query or parts.fragment
    return urlunsplit((parts.scheme, netloc, "/…" if elided else "/", "", ""))
