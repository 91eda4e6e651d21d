"""Signals a job store gives about changes other replicas made, so a replica need not
wait for its next poll: a job became claimable (queued), a job's state or progress
changed (a Watch running elsewhere reports it), or a cancel of a running job was
requested (the replica running it stops it now rather than at its next heartbeat).

Signals are hints, never the record: whoever hears one reads the store. They may be
lost (a listener's connection dropped), so pollers keep polling, only less urgently; a
`RESYNC` signal (no job id) says some may have been missed: look at everything.
The PostgreSQL store sends them with NOTIFY in the transaction of the change (delivered
at its commit, never for a rollback); the SQLite store serves one daemon and sends none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

#: The PostgreSQL channel the store NOTIFYs and LISTENs on.
CHANNEL: Final = "sluice_jobs"


class SignalKind(StrEnum):
    #: The job is claimable now (created, resumed, handed back by a shutdown).
    QUEUED = "queued"
    #: The job's state or journalled progress changed.
    CHANGED = "changed"
    #: A cancel of the running job was requested (CancelExport on another replica).
    CANCEL = "cancel"
    #: Signals may have been missed (job_id is ""): look at every job of interest.
    RESYNC = "resync"


@dataclass(frozen=True)
class JobSignal:
    kind: SignalKind
    job_id: str = ""


#: Called on the store's listening thread: must return quickly and never raise.
SignalListener = Callable[[JobSignal], None]


def encode(kind: SignalKind, job_id: str) -> str:
    """The NOTIFY payload of a signal."""
    return f"{kind.value} {job_id}"


def decode(payload: str) -> JobSignal | None:
    """A payload's signal; None for anything else on the channel."""
    kind, _, job_id = payload.partition(" ")
    try:
        return JobSignal(SignalKind(kind), job_id)
    except ValueError:
        return None
