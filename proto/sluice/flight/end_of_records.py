"""How a DoPut client says its records ended: the `end_of_records` key of a FlightData's
app_metadata (a JSON object), shared by the daemon and the client.

    {"end_of_records": true}    the records end with this message (which may hold a
                                batch, or no data at all), then the client half-closes
    {"end_of_records": false}   not yet, and this put will say when (any message before
                                the end: the first, with the descriptor, or one with no
                                data); a stream that stops without `true` is then broken,
                                however it stopped

Without the key the daemon infers the end from the half-close (README, Arrow Flight).
Plain JSON, no pyarrow: the client's base install reads it too.
"""

from __future__ import annotations

import json
from typing import Final

KEY: Final = "end_of_records"
#: app_metadata of the message that ends the records.
MARKER: Final = json.dumps({KEY: True}).encode()
#: app_metadata announcing that the records' end will be marked.
ANNOUNCEMENT: Final = json.dumps({KEY: False}).encode()


def says_end_of_records(app_metadata: bytes | memoryview) -> bool | None:
    """What an app_metadata says of the end of the records: True (they end here), False
    (not yet; the end will be marked), None (nothing: empty, not JSON, or no such key;
    a put's app_metadata is otherwise the client's own and ignored). Raises ValueError
    when the key holds anything but a boolean, or when the bytes name the key but are no
    JSON object (a marker written wrong must not pass for a plain put's metadata)."""
    data = bytes(app_metadata).lstrip()
    named = KEY.encode() in data
    parsed: object = None
    if data.startswith(b"{"):
        try:
            parsed = json.loads(data)
        except (ValueError, RecursionError):
            parsed = None
    if not isinstance(parsed, dict):
        if named:  # a marker gone wrong ({'end_of_records': true}, say) is no plain put
            raise ValueError(
                f"names {KEY} but is no JSON object: write it as {MARKER.decode()} "
                f"or {ANNOUNCEMENT.decode()}"
            )
        return None
    if KEY not in parsed:
        return None
    value = parsed[KEY]
    if not isinstance(value, bool):
        raise ValueError(f"{KEY} must be true or false, not {json.dumps(value)[:40]}")
    return value
