"""Page tokens of job lists, shared by every job store: an opaque keyset position
(created_at, id) after which the next page starts, newest first."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime

from sluice.server.errors import InvalidArgument

#: Longest page token accepted: ours are about 80 characters.
_MAX_TOKEN_CHARS = 512


def encode_token(created_at: str, job_id: str) -> str:
    raw = json.dumps({"c": created_at, "i": job_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[str, str]:
    """The keyset position after which the next page starts: (created_at, id)."""
    if len(token) > _MAX_TOKEN_CHARS:  # the tokens this store hands out are far shorter
        raise InvalidArgument("page_token", "malformed page token")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise TypeError("a token is a JSON object")
        created_at, job_id = data["c"], data["i"]
        if not isinstance(created_at, str) or not isinstance(job_id, str):
            raise TypeError("token fields must be strings")
        # Re-render so a hand-edited but valid time still compares as stored text does.
        return timestamp(datetime.fromisoformat(created_at)), job_id
    # RecursionError: JSON nested deeper than the parser goes; OverflowError: a time
    # that leaves the datetime range when moved to UTC.
    except (binascii.Error, ValueError, TypeError, KeyError, RecursionError, OverflowError):
        raise InvalidArgument("page_token", "malformed page token") from None


def timestamp(value: datetime) -> str:
    """Fixed-width UTC text, so string order is time order."""
    if value.tzinfo is None:
        raise ValueError("job store timestamps must be timezone-aware")
    return value.astimezone(UTC).isoformat(timespec="microseconds")
