"""The daemon's side of secret references (sluice.secrets): a secret that cannot be read
is the operator's configuration problem, answered as FAILED_PRECONDITION; and the key
files the daemon creates in its state folder when no reference is configured."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from sluice.secrets import SecretRef, SecretUnavailable
from sluice.server.errors import FailedPrecondition

_log = logging.getLogger(__name__)


def resolve_secret(reference: str) -> bytes:
    """The secret `reference` names. Raises ValueError for a malformed reference (without
    echoing it) and FailedPrecondition when the secret cannot be read."""
    ref = SecretRef(reference)
    try:
        return ref.resolve()
    except SecretUnavailable as exc:
        raise FailedPrecondition(exc.message) from None


def resolve_configured_secret(reference: str, described: str) -> bytes:
    """The secret `reference` names, for a configured secret a caller asked for by name
    (`described`: "server secret 'sharing'", "...: hash key 'k'"). Where it lives (a
    file's path, a variable's name) is the operator's to read: an unreadable one is logged
    with it and answered FailedPrecondition "`described` cannot be read; the server log
    says why". ValueError as resolve_secret."""
    try:
        return resolve_secret(reference)
    except FailedPrecondition as exc:
        _log.warning("%s cannot be read: %s", described, exc.message)
        raise FailedPrecondition(f"{described} cannot be read; the server log says why") from None


def load_or_create_key(reference: str, fallback_file: Path) -> bytes:
    """Resolve a key reference, or create a random 32-byte key in fallback_file (0600)
    when no reference is configured, so an embedded daemon works out of the box."""
    if reference:
        return resolve_secret(reference)
    if fallback_file.exists():
        return _read_key_file(fallback_file)
    fallback_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(32)
    # Written beside the final name and linked into place, so a crash (or a second daemon
    # starting at once) never leaves or reads an empty key file: HMAC accepts an empty key.
    temporary = fallback_file.with_name(f".{fallback_file.name}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, fallback_file)
        except FileExistsError:
            return _read_key_file(fallback_file)
    finally:
        temporary.unlink(missing_ok=True)
    return key


def _read_key_file(path: Path) -> bytes:
    key = path.read_bytes()
    if not key:
        raise FailedPrecondition(f"key file {path} is empty; remove it to create a new key")
    return key
