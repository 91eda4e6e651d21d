"""Request ids are the caller's own: one principal's `request_id` never names, finds or
blocks another's export (a shared namespace told a caller whether another had used an
id, and let it claim another's predictable next id first). The job stores keep the
`request_id` column unique and store in it the creator and the id together,
`<created_by>\\x1f<request_id>`: a request id is printable (planning's
check_request_id), so the separator never occurs in it, and the last one splits the two."""

from __future__ import annotations

from typing import Final

#: Between the creator and the request id in the stored column (ASCII unit separator).
SEPARATOR: Final = "\x1f"


def stored_request_id(created_by: str, request_id: str) -> str | None:
    """What the `request_id` column holds for `created_by`'s request (None: no id)."""
    return f"{created_by}{SEPARATOR}{request_id}" if request_id else None


def callers_request_id(stored: str | None) -> str:
    """The request id as its caller gave it, from the column's value."""
    return (stored or "").rpartition(SEPARATOR)[2]
