"""Job records as the job store keeps them: plain data, no behaviour beyond state rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sluice.server.jobs.migrations import SchemaStatus
from sluice.server.pipeline.results import ChunkResult, PipelineProgress
from sluice.server.planning.spec import ExportSpec

#: A job journals each committed chunk, and its running totals, exactly as the pipeline
#: reported them: one plain type, owned by the pipeline (which knows nothing of jobs).
ChunkRecord = ChunkResult
Progress = PipelineProgress


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    #: An export whose stored objects were removed: a succeeded one (delete or
    #: retention), or a cancelled or failed one whose chunk files `export delete`
    #: removed (never resumable again; a removal cut short leaves some stored).
    DELETED = "deleted"

    @property
    def final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.DELETED}
)
UNFINISHED_STATES = frozenset({JobState.QUEUED, JobState.RUNNING})
#: States that end an export as far as notifications go (DELETED comes later, if ever).
NOTIFYING_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
RESUMABLE_STATES = frozenset({JobState.FAILED, JobState.CANCELLED})
CANCELLABLE_STATES = UNFINISHED_STATES


@dataclass(frozen=True)
class JobError:
    #: A server.errors.ErrorCode value.
    code: str
    message: str
    transient: bool = False


@dataclass(frozen=True)
class Job:
    id: str
    spec: ExportSpec
    state: JobState
    created_at: datetime
    updated_at: datetime
    request_id: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: Progress = field(default_factory=Progress)
    manifest_uri: str = ""
    error: JobError | None = None
    #: Filled by ExportService.get only (the store's job rows do not carry them).
    notifications: tuple[NotificationDelivery, ...] = ()
    #: Name of the principal that created the export ("" without principals).
    created_by: str = ""
    #: The replica holding the job's lease while it runs ("" when none does).
    replica: str = ""
    #: A cancel asked of a running job, for whichever replica runs it to honour.
    cancel_requested: bool = False
    #: Filled by ExportService.get and watch events only: every run of the export so far.
    attempts: tuple[ExportAttempt, ...] = ()
    #: The store's revision of the job's row when it was read: raised with every write
    #: of it (0 for a job not read from a store), so of two reads of one job, the one
    #: with the higher revision is the newer, whenever each began.
    revision: int = 0
    #: The job store forgot its request's personal values (a DELETED job: mark_deleted,
    #: forget_deleted): the spec shows each as `?` and its error messages are reduced to
    #: their code, so a `?` in it is no value a caller sent.
    values_forgotten: bool = False

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.spec.labels)


@dataclass(frozen=True)
class Lease:
    """The right of one replica (`owner`) to run one job and write its journal. `token`
    grows with every claim of the job (a fencing token): a write under an older token is
    refused, so a replica that lost the lease can never commit anything more."""

    job_id: str
    owner: str
    token: int


@dataclass(frozen=True)
class NewJob:
    id: str
    spec: ExportSpec
    request_id: str = ""
    #: ExportSpec.fingerprint(), to tell a retry from a reused request id.
    request_fingerprint: str = ""
    #: Name of the principal creating it ("" without principals).
    created_by: str = ""
    #: Only this replica may claim it ("": any). A DoPut export's records arrive on the
    #: replica holding the Flight stream, so it runs there and nowhere else.
    runs_on: str = ""


@dataclass(frozen=True)
class JobFilter:
    states: frozenset[JobState] = frozenset()
    labels: tuple[tuple[str, str], ...] = ()
    #: Only exports this principal created; None: everyone's.
    created_by: str | None = None


@dataclass(frozen=True)
class JobPage:
    jobs: tuple[Job, ...]
    #: Empty on the last page.
    next_page_token: str = ""


class DeliveryState(StrEnum):
    #: Not delivered yet: waits for its export to end, then for its next attempt.
    PENDING = "pending"
    DELIVERED = "delivered"
    #: Gave up: the retry window closed (or the target is gone from the config).
    FAILED = "failed"


@dataclass(frozen=True)
class NotificationDelivery:
    """One export-end notification to one target, as the job store records it. Rows are
    made with their job (one per notify entry), so a daemon that dies between an export's
    end and the delivery finds them again on start."""

    job_id: str
    #: Position of the target in the spec's notify list.
    index: int
    #: The notify entry: a configured name or a URL (resolved at each attempt).
    target: str
    #: Sent as Sluice-Delivery-Id on every attempt, so receivers can deduplicate.
    delivery_id: str
    state: DeliveryState = DeliveryState.PENDING
    attempts: int = 0
    last_error: str = ""
    last_attempt_at: datetime | None = None
    #: None: as soon as the export has ended.
    next_attempt_at: datetime | None = None
    #: Seconds its attempts waited past their due times, summed: not the receiver's, so
    #: its retry window is longer by that much.
    late_seconds: float = 0.0


class AttemptOutcome(StrEnum):
    """How one run (attempt) of an export ended."""

    #: Still running (no end recorded).
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    #: Failed transiently; the export went back to the queue for another attempt.
    RETRIED = "retried"
    #: Stopped by a graceful shutdown; the export went back to the queue.
    HANDED_BACK = "handed_back"
    #: Its replica lost the lease; another replica took the export over.
    LEASE_LOST = "lease_lost"
    #: Its replica stopped without recording an end (it died): closed by the next run.
    STOPPED = "stopped"


@dataclass(frozen=True)
class AttemptEnd:
    """How the run under a lease ended, written with the job's final transition (one
    transaction: a crash between the two must not leave an ended attempt on a job
    still running, which would restart its count of failures in a row)."""

    outcome: AttemptOutcome
    error: JobError | None = None


@dataclass(frozen=True)
class ExportAttempt:
    """One run of an export under one lease, as the job store records it (a row per
    claim): who ran it, when, how it ended and why. Messages are domain-error messages,
    safe to show (never secrets)."""

    number: int
    replica: str
    started_at: datetime
    ended_at: datetime | None = None
    outcome: AttemptOutcome = AttemptOutcome.RUNNING
    error: JobError | None = None
    #: After a RETRIED attempt: the earliest time the next one may start.
    retry_at: datetime | None = None


@dataclass(frozen=True)
class StoreCheck:
    """What one check of the job store read (JobStore.check): the unfinished exports of
    every replica sharing it, and the schema version it holds against this binary's."""

    running: int
    queued: int
    schema: SchemaStatus
