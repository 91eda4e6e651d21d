"""Broken puts waiting for a resume, bounded per principal.

A put whose stream broke without its end (the client crashed, the connection dropped)
leaves its export running, waiting `flight_put_idle_timeout` for a put with the same
requestId to resume it: a *parked* put, holding one of `max_concurrent_exports` run
slots all that time. A caller breaking put after put filled every slot, and everyone
else's exports waited in the queue. So a principal may have at most
`flight_parked_puts_per_principal` parked puts in this daemon (0: no limit); the
export of a put that breaks beyond them ends at once, failed with RESOURCE_EXHAUSTED
naming the limit, its slot free. Nothing is lost: its committed chunks stay, and a put
with the same requestId resumes it from `committed_records`, as it resumes a parked one.
"""

from __future__ import annotations

from sluice.server.errors import ErrorCode, SluiceError
from sluice.server.pipeline.stream_source import INBOXES, Inbox


class TooManyParkedPuts(SluiceError):
    """The export of a put that broke beyond its principal's parked puts. Not
    transient: a retry of the run would wait for a put again."""

    code = ErrorCode.RESOURCE_EXHAUSTED
    transient = False

    def __init__(self, export_id: str, owner: str, most: int) -> None:
        # A daemon without principals has one, anonymous, whose name is empty.
        who = f"principal {owner!r}" if owner else "anonymous callers"
        super().__init__(
            f"the put of export {export_id} broke while {who} already had "
            f"{most} broken put(s) waiting for a resume, the most allowed "
            "(flight_parked_puts_per_principal): the export stopped rather than hold a "
            "run slot; its committed chunks stay and a DoPut with the same requestId "
            "resumes it"
        )


def park_or_end(inbox: Inbox, export_id: str, generation: int, owner: str, most: int) -> None:
    """The put of `generation`, `owner`'s, broke: its export waits for a resume if
    `owner` has fewer than `most` parked puts here (0: no limit), else it ends now
    (resumable)."""
    if not INBOXES.park(export_id, inbox, generation, owner, most):
        inbox.refuse(generation, TooManyParkedPuts(export_id, owner, most))
