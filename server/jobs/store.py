"""The job store contract: job rows plus a chunk journal.

Implementations: server/jobs/sqlite.py (embedded default) and server/jobs/postgres.py
(`job_store = "postgresql://..."`), chosen by server/jobs/recovery.open_job_store. Every
implementation must pass tests/unit/test_job_store_contract.py. A job store also keeps
schedules (server/jobs/schedules.py, tests/unit/test_schedule_store_contract.py).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol

from sluice.server.jobs.model import (
    ChunkRecord,
    DeliveryState,
    Job,
    JobError,
    JobFilter,
    JobPage,
    JobState,
    NewJob,
    NotificationDelivery,
    Progress,
)
from sluice.server.jobs.schedules import ScheduleStore


class JobStore(ScheduleStore, Protocol):
    def create(self, new: NewJob) -> tuple[Job, bool]:
        """Insert a queued job (and one pending notification delivery per spec.notify
        entry, in the same transaction). With a request id already seen, return the existing job
        and False (raise InvalidArgument on field "request_id" if the fingerprint differs)."""
        ...

    def find_by_request_id(self, request_id: str) -> Job | None:
        """The job created with this request id, if any (so a retry skips validation)."""
        ...

    def get(self, job_id: str) -> Job:
        """Raise NotFound for an unknown id."""
        ...

    def list(self, where: JobFilter, *, page_size: int, page_token: str = "") -> JobPage:
        """Newest first. Raise InvalidArgument on field "page_token" for a bad token."""
        ...

    def transition(
        self,
        job_id: str,
        allowed_from: Collection[JobState],
        to: JobState,
        *,
        error: JobError | None = None,
        manifest_uri: str | None = None,
    ) -> Job:
        """Compare-and-set the state. Raise FailedPrecondition naming the current state
        when it is not in allowed_from. Sets started_at on RUNNING (first time), finished_at
        on entering a final state (kept from one final state to another, cleared when
        leaving one), and error (cleared unless given)."""
        ...

    def record_chunk(self, job_id: str, chunk: ChunkRecord, progress: Progress) -> None:
        """Journal a committed chunk and the progress after it, atomically. Recording the
        same index twice with the same sha256 is a no-op; with another, FailedPrecondition."""
        ...

    def chunks(self, job_id: str) -> Sequence[ChunkRecord]:
        """The journal, in index order."""
        ...

    def save_progress(self, job_id: str, progress: Progress) -> None: ...

    def save_upload(self, job_id: str, key: str, state: str) -> None:
        """Journal the state of a resumable upload of object `key` (opaque JSON text,
        owned by the sink: upload id, parts, digests). Replaces any earlier state."""
        ...

    def uploads(self, job_id: str) -> Sequence[tuple[str, str]]:
        """Journalled (key, state) pairs of uploads not yet finished, in key order."""
        ...

    def delete_upload(self, job_id: str, key: str) -> None:
        """Forget an upload once it completed or was aborted; missing is fine."""
        ...

    def unfinished(self) -> Sequence[Job]:
        """Queued and running jobs, oldest first: what a starting daemon must pick up."""
        ...

    def restore(self, job: Job, chunks: Sequence[ChunkRecord]) -> bool:
        """Insert a job recorded elsewhere (rebuilt from its manifest) exactly as given:
        state, times, progress, manifest URI and chunk journal. Returns False, changing
        nothing, when a job with its id (or its request id) already exists."""
        ...

    def notifications(self, job_id: str) -> Sequence[NotificationDelivery]:
        """The job's notification deliveries (made by `create`, one per spec.notify
        entry), in notify order. Raise NotFound for an unknown job."""
        ...

    def due_notifications(self, now: datetime, limit: int) -> Sequence[NotificationDelivery]:
        """Pending deliveries of ended jobs (succeeded, failed, cancelled) whose next
        attempt is due at `now` (or not set), earliest first, at most `limit`."""
        ...

    def claim_notifications(
        self, now: datetime, claim_until: datetime, limit: int
    ) -> Sequence[NotificationDelivery]:
        """Take the deliveries due at `now` (as due_notifications) for one attempt, in
        one transaction: their next attempt moves to `claim_until`, so no other claimer
        (another replica) takes them meanwhile, and a claimer that dies before recording
        its attempt leaves them due again then."""
        ...

    def record_notification_attempt(
        self,
        delivery_id: str,
        *,
        state: DeliveryState,
        error: str,
        attempted_at: datetime,
        next_attempt_at: datetime | None,
    ) -> bool:
        """Count one attempt of the delivery and set its outcome. False, changing
        nothing, when no delivery has this id any more (re-armed by a resume meanwhile)."""
        ...

    def rearm_notifications(self, job_id: str) -> None:
        """Make every delivery of the job pending again, with no attempts and a new
        delivery id (its export is resumed: its next end is news again)."""
        ...

    def close(self) -> None: ...
