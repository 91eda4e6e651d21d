"""Secrets by reference. Configuration names where a secret lives ("env:NAME",
"file:PATH", "rawfile:PATH"); only this module reads the value, and errors never
contain it.

Below both the daemon and storage (sinks resolve profile credentials with it), so it
raises its own SecretUnavailable: the daemon answers it as FAILED_PRECONDITION
(sluice.server.secrets), sinks as a permanent StorageError.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

#: What an environment variable's name may be (POSIX shells' rule). Anything else after
#: "env:" is most likely the secret itself, pasted after the scheme.
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SecretUnavailable(Exception):
    """A reference names a secret that cannot be read (unset, empty, unreadable). The
    message names the reference, never a value."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SecretRef:
    """A reference such as "env:SLUICE_DIGEST_KEY" or "file:/run/secrets/key". "file:"
    strips the file's surrounding whitespace (the newline an editor adds); "rawfile:"
    reads its bytes exactly, for binary keys such as those the daemon generates (one in
    about 23 of them starts or ends with a byte that strip() removes)."""

    def __init__(self, reference: str) -> None:
        scheme, sep, target = reference.partition(":")
        if not sep or scheme not in {"env", "file", "rawfile"} or not target:
            # Not echoed: a value that is not a reference is often the secret itself.
            raise ValueError(
                "a secret reference must be env:NAME or file:PATH (rawfile:PATH: its bytes"
                f" exactly), not a value ({len(reference)} characters)"
            )
        if scheme == "env" and not _ENV_NAME.fullmatch(target):
            raise ValueError(
                "env: must name an environment variable (letters, digits and '_'), not"
                f" hold a value ({len(target)} characters after 'env:')"
            )
        self.scheme = scheme
        self.target = target

    @property
    def shown(self) -> str:
        """The reference as messages may show it: a relative file path may be a secret
        pasted after "file:", so only its length is said."""
        if self.scheme == "env" or Path(self.target).is_absolute():
            return f"{self.scheme}:{self.target}"
        return f"{self.scheme}:<a relative path of {len(self.target)} characters>"

    def __repr__(self) -> str:
        # Safe to log: the reference, never the value.
        return f"SecretRef({self.shown})"

    def resolve(self) -> bytes:
        """The secret's bytes (a file:'s surrounding whitespace stripped, a rawfile:'s
        exactly). Raises SecretUnavailable."""
        if self.scheme == "env":
            value = os.environ.get(self.target)
            if not value:
                raise SecretUnavailable(f"secret {self.shown} is not set")
            return value.encode()
        try:
            data = Path(self.target).read_bytes()
        except OSError as exc:
            raise SecretUnavailable(
                f"secret {self.shown} cannot be read ({exc.strerror})"
            ) from None
        if self.scheme == "file":
            data = data.strip()
        if not data:
            raise SecretUnavailable(f"secret {self.shown} is empty")
        return data
