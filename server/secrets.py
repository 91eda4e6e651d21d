"""Secrets by reference. Configuration names where a secret lives ("env:NAME",
"file:PATH"); only this module reads the value, and errors never contain it."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sluice.server.errors import FailedPrecondition


class SecretRef:
    """A reference such as "env:SLUICE_DIGEST_KEY" or "file:/run/secrets/key"."""

    def __init__(self, reference: str) -> None:
        scheme, sep, target = reference.partition(":")
        if not sep or scheme not in {"env", "file"} or not target:
            # Not echoed: a value that is not a reference is often the secret itself.
            raise ValueError(
                f"a secret reference must be env:NAME or file:PATH, not a value "
                f"({len(reference)} characters)"
            )
        self.scheme = scheme
        self.target = target

    def __repr__(self) -> str:
        # Safe to log: the reference, never the value.
        return f"SecretRef({self.scheme}:{self.target})"

    def resolve(self) -> bytes:
        if self.scheme == "env":
            value = os.environ.get(self.target)
            if not value:
                raise FailedPrecondition(f"secret env:{self.target} is not set")
            return value.encode()
        try:
            data = Path(self.target).read_bytes().strip()
        except OSError as exc:
            raise FailedPrecondition(
                f"secret file:{self.target} cannot be read ({exc.strerror})"
            ) from None
        if not data:
            raise FailedPrecondition(f"secret file:{self.target} is empty")
        return data


def load_or_create_key(reference: str, fallback_file: Path) -> bytes:
    """Resolve a key reference, or create a random 32-byte key in fallback_file (0600)
    when no reference is configured, so an embedded daemon works out of the box."""
    if reference:
        return SecretRef(reference).resolve()
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
