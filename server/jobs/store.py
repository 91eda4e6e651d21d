"""The job store contract: job rows plus a chunk journal, and leases.

A running job is held by one replica under a `Lease` (claim, renew, release). Every
journal write of a running export passes its lease: the store checks the lease token in
the same transaction as the write and raises LeaseLost when another claim superseded
it, so a replica that lost its lease can never commit anything more for that job.
Writes without a lease (None: admin paths, tests) are not fenced.

A job keeps its request as sent (a `where`'s literals, ids, a subject id) and its
journal the values read from rows (each chunk's largest cursor, last order key) while
its export can still run. DELETED is entered only through mark_deleted, which forgets
those values in the same transaction (transition refuses DELETED), and forget_deleted
does the same for jobs deleted before stores forgot; nothing may read a DELETED job's
spec to run it (it never runs again), only to show it or to find its files.

Implementations: server/jobs/sqlite.py (embedded default) and server/jobs/postgres.py
(`job_store = "postgresql://..."`), chosen by server/jobs/recovery.open_job_store. Every
implementation must pass tests/unit/test_job_store_contract.py. A job store also keeps
schedules (server/jobs/schedules.py, tests/unit/test_schedule_store_contract.py).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from sluice.server.jobs.model import (
    AttemptEnd,
    AttemptOutcome,
    ChunkRecord,
    DeliveryState,
    ExportAttempt,
    Job,
    JobError,
    JobFilter,
    JobPage,
    JobState,
    Lease,
    NewJob,
    NotificationDelivery,
    Progress,
    StoreCheck,
)
from sluice.server.jobs.schedules import ScheduleStore
from sluice.server.jobs.signals import SignalListener


class JobStore(ScheduleStore, Protocol):
    def create(self, new: NewJob) -> tuple[Job, bool]:
        """Insert a queued job (and one pending notification delivery per spec.notify
        entry, in the same transaction). With a request id already seen, return the existing job
        and False (raise InvalidArgument on field "request_id" if the fingerprint differs;
        a deleted job's request is forgotten, fingerprint included (mark_deleted), so any
        request with its request id gets that DELETED job back, never a new export)."""
        ...

    def find_by_request_id(self, request_id: str, created_by: str) -> Job | None:
        """The job `created_by` created with this request id, if any (so a retry skips
        validation). Request ids are per creator (server/jobs/request_keys.py)."""
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
        lease: Lease | None = None,
        attempt: AttemptEnd | None = None,
    ) -> Job:
        """Compare-and-set the state. Raise FailedPrecondition naming the current state
        when it is not in allowed_from (LeaseLost when `lease` is given and no longer
        held). Sets started_at on RUNNING (first time), finished_at on entering a final
        state (kept from one final state to another, cleared when leaving one), and error
        (cleared unless given). Leaving RUNNING ends the lease and any cancel request.
        Leaving a final state for QUEUED (a resume) re-arms the job's notification
        deliveries (as rearm_notifications) in the same transaction. With `attempt`
        (and `lease`: ValueError without one) the attempt run under the lease ends so,
        as end_attempt, in the same transaction: both are written or neither. `to` is
        never DELETED (ValueError): only mark_deleted enters it."""
        ...

    def mark_deleted(
        self,
        job_id: str,
        allowed_from: Collection[JobState],
        *,
        error: JobError | None = None,
        batch: bool = False,
    ) -> Job:
        """Compare-and-set the job to DELETED (its export's stored objects are removed),
        as transition does, and in the same transaction forget the personal values its
        request and journal hold, which nothing reads once no run can come (a DELETED
        job never runs again): the spec's `query.where` and `source.query` keep their
        SQL with each literal masked as `?` (masked_literals; every double-quoted token
        too; text it cannot read becomes `?` whole), each of `query.ids` becomes `?` (so
        their count stays), `subject.subject_id` becomes `?`
        (server/jobs/forgotten_values.py), `source.uri` keeps only its root
        (`s3://lake/…`, `/data/…`), each label's value becomes `?` (in the spec and the
        rows ListExports filters on) but `sluice.schedule`'s; every chunk's `cursor_max` and
        `source_last_key` become None; the request fingerprint is forgotten too (a
        digest of the request as sent would confirm a guessed value), and so is every
        error message the job keeps (its error, `error` as transition's; each attempt's;
        each notification delivery's last error): each becomes rows.FORGOTTEN_ERROR, its
        code and transient flag kept, since a message may quote the request's values.
        The job then reads with values_forgotten. Everything that shows the job stays:
        id, request id, state, times, counters, manifest URI, error codes, label keys,
        destination and dataset (a second delete needs them), chunk paths and digests.
        A DELETED job in allowed_from is masked again (no change) or, deleted before
        stores forgot, masked now. Each notify target is kept as logs show it (a URL
        as scheme://host/…, a mailto: address as `mailto:?`, a configured name as it
        is), in the spec and the job's notification deliveries alike (never due again:
        DELETED is not a notifying state); each redaction rule's pattern that is no
        built-in entity's name becomes `?`. An embedded store also clears the freed
        bytes from its file (SQLite: secure_delete) and then erases what else keeps
        them (erase_forgotten), unless `batch`: one of several marks (retention), after
        the last of which the caller calls erase_forgotten once."""
        ...

    def erase_forgotten(self) -> None:
        """Erase the copies of forgotten values an embedded store's files keep beside
        its rows (SQLite: empty the WAL). Best effort, and never waiting for another
        process reading the file (a backup tool): the copies then stay until a later
        erase. PostgreSQL: nothing (its dead tuples and WAL are the server's)."""
        ...

    def forget_deleted(self) -> int:
        """Forget, as mark_deleted does, the values of every DELETED job with something
        not forgotten yet: its request (deleted by a Sluice whose store kept it), or an
        error message (kept by a Sluice that forgot only the spec, or recorded after the
        delete by a delivery in flight), leaving its state, times and error codes as
        they are; returns how many. Run at every start: none are left after the first."""
        ...

    def record_chunk(
        self, job_id: str, chunk: ChunkRecord, progress: Progress, *, lease: Lease | None = None
    ) -> None:
        """Journal a committed chunk (with the lease it ran under) and the progress after
        it, atomically. Recording the same index twice with the same sha256 is a no-op;
        with another, FailedPrecondition."""
        ...

    def chunks(self, job_id: str) -> Sequence[ChunkRecord]:
        """The journal, in index order."""
        ...

    def save_progress(self, job_id: str, progress: Progress, *, lease: Lease | None = None) -> None:
        """Save the progress of a run between chunks, all but its counters: those reach
        the job only with the chunk they count (record_chunk), so a chunk whose commit
        fails is never counted on the job."""
        ...

    def save_final_progress(
        self, job_id: str, progress: Progress, *, lease: Lease | None = None
    ) -> None:
        """Save the progress of a run whose pipeline ended, its counters included: the
        source rows after its last chunk's (skipped under on_bad_rows "skip", without a
        cursor) are counted in no chunk, only once the read ended. A run that resumes
        counts them again from its chunks, so saving them twice never adds them twice."""
        ...

    def save_upload(self, job_id: str, key: str, state: str, *, lease: Lease | None = None) -> None:
        """Journal the state of a resumable upload of object `key` (opaque JSON text,
        owned by the sink: upload id, parts, digests). Replaces any earlier state."""
        ...

    def uploads(self, job_id: str) -> Sequence[tuple[str, str]]:
        """Journalled (key, state) pairs of uploads not yet finished, in key order."""
        ...

    def delete_upload(self, job_id: str, key: str, *, lease: Lease | None = None) -> None:
        """Forget an upload once it completed or was aborted; missing is fine."""
        ...

    def save_run_facts(self, job_id: str, facts: str, *, lease: Lease | None = None) -> None:
        """Journal what a run found before its first chunk (opaque JSON text owned by
        server/execution/run_facts.py: the source's identity, the pinned parent, the key
        pass's fingerprint). Replaces any earlier facts."""
        ...

    def run_facts(self, job_id: str) -> str | None:
        """The journalled run facts; None when none were journalled (a job from before
        they were, or one restored from its manifest)."""
        ...

    def newest_succeeded(
        self, created_by: str, dataset: str, limit: int, *, after: Job | None = None
    ) -> Sequence[Job]:
        """Up to `limit` SUCCEEDED exports of `dataset` made by `created_by`, the last to
        finish first (a DELETED one is not among them), from the one that finished after
        `after` (the last of the previous page; None: the newest): where the newest
        committed export of each of that dataset's chains is (the caller compares
        destinations, increment_chains.chain_tip). Indexed by creator and dataset: the
        cost is that of the rows returned, not of the creator's whole history."""
        ...

    def unfinished(self) -> Sequence[Job]:
        """Queued and running jobs, oldest first."""
        ...

    def claim(
        self, owner: str, lease_seconds: float, per_creator: int = 0
    ) -> tuple[Job, Lease] | None:
        """Take the oldest claimable job for replica `owner`: a queued one, or a running
        one whose lease expired (or was expired by expire_leases). It becomes RUNNING
        under a new lease (token one more than the last, expiring in lease_seconds).
        Concurrent claims never take one job twice and never wait on each other's row;
        None when nothing is claimable. `per_creator` > 0: a job whose creator (not the
        server's own, "") already has that many other jobs running under live leases is
        passed over (max_running_per_principal); claims then take turns, so concurrent
        ones never exceed it together."""
        ...

    def renew(self, lease: Lease, lease_seconds: float) -> bool:
        """Extend a held lease to lease_seconds from now (LeaseLost when it is no longer
        held). Returns whether a cancel of the job was requested (request_cancel)."""
        ...

    def pin(self, job_id: str, replica: str) -> Job:
        """Let only `replica` claim the job from now on (a DoPut resumed on another
        replica brings the records there), at once: the window in which an unpinned put
        waits for its client to resume (release, unpin_queued) ends. FailedPrecondition
        when the job is running under a live lease of another replica."""
        ...

    def unpin_queued(self, replica: str, resume_window: timedelta) -> Sequence[str]:
        """Let any replica claim the queued jobs only `replica` could (pin), once
        `resume_window` has passed (by the store's clock), and return their ids: called
        when it shuts down, as its name may never come back (a pod's name), and a DoPut
        export nobody resumes must still end (whoever claims it ends it as cancelled
        once no batch comes). Within the window a put resumed on any replica pins it
        there (pin) before another replica claims it and refuses that put."""
        ...

    def release(self, lease: Lease, resume_window: timedelta) -> Job:
        """Hand a running job back at once (graceful shutdown): QUEUED again, claimable
        by any replica now, and its attempt under `lease` ended as HANDED_BACK, in one
        transaction. LeaseLost when the lease is no longer held. A DoPut export's pin
        (runs_on) is cleared too: the replica shutting down may never come back (a pod's
        name). It is claimable only after `resume_window` (by the store's clock): the
        client's retried put, landing on any replica, pins it there (pin) first; after
        that whichever replica claims it ends it as cancelled once no batch comes
        (flight_put_idle_timeout)."""
        ...

    def begin_attempt(self, lease: Lease) -> ExportAttempt:
        """Record the start of a run of the job under `lease` (just claimed): the next
        attempt number, the replica, now. An earlier attempt that never recorded its end
        (its replica died) is closed as STOPPED. LeaseLost when the lease is not held."""
        ...

    def end_attempt(
        self, lease: Lease, outcome: AttemptOutcome, error: JobError | None = None
    ) -> None:
        """Record how the attempt run under `lease` ended (matched by its token: a
        replica ends only its own run, even after losing the lease). No-op when that
        attempt has ended already or none was begun."""
        ...

    def retry_later(self, lease: Lease, error: JobError, not_before: datetime) -> Job:
        """After a transient failure, in one transaction: end the attempt as RETRIED with
        `error` and `not_before` as its retry time, and put the job back in the queue
        (lease and cancel request ended), not claimable before `not_before`. Any later
        transition (cancel, resume) ends that wait. A cancel already requested wins:
        nothing is written and the job comes back RUNNING with `cancel_requested`, for the
        caller to cancel. LeaseLost when the lease is not held."""
        ...

    def attempts(self, job_id: str) -> Sequence[ExportAttempt]:
        """The job's attempts, oldest first. NotFound for an unknown job."""
        ...

    def request_cancel(self, job_id: str) -> Job:
        """Ask whichever replica runs the job to cancel it (honoured at its next renew,
        which a CANCEL signal to listeners hastens); no effect unless the job is RUNNING.
        NotFound for an unknown id."""
        ...

    def expire_leases(self) -> int:
        """End every running job's lease now, so the jobs are claimable at once; returns
        how many. Only for a store no other live replica uses (SQLite under the state
        folder lock: whatever ran there before died with its daemon)."""
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

    def claim_notifications(self, hold: timedelta, limit: int) -> Sequence[NotificationDelivery]:
        """Take the deliveries due now (as due_notifications) for one attempt, in one
        transaction: their next attempt moves to `hold` from now, so no other claimer
        (another replica) takes them meanwhile, and a claimer that dies before recording
        its attempt leaves them due again then. "Now" is the store's clock, never the
        caller's: PostgreSQL's now(), which every replica shares (a replica whose clock
        is ahead took deliveries another had claimed, and one whose clock is behind made
        claims that had already ended: both sent a notification twice); SQLite's is this
        host's, its only replica's."""
        ...

    def record_notification_attempt(
        self,
        delivery_id: str,
        *,
        state: DeliveryState,
        error: str,
        attempted_at: datetime,
        next_attempt_at: datetime | None,
        late_seconds: float | None = None,
    ) -> bool:
        """Count one attempt of the delivery and set its outcome (and, unless None, the
        seconds its attempts waited past their due times, summed). False, changing
        nothing, when no delivery has this id any more (re-armed by a resume meanwhile)."""
        ...

    def rearm_notifications(self, job_id: str) -> None:
        """Make every delivery of the job pending again, with no attempts and a new
        delivery id (its export is resumed: its next end is news again)."""
        ...

    def listen(self, listener: SignalListener) -> None:
        """Call `listener` (on a thread of the store's) for every change other replicas
        may care about: a job became claimable, its state or progress changed, or a
        cancel of it was requested (server/jobs/signals.py). Hints for pollers, never the
        record: a store that cannot hear other writers (SQLite, one daemon) calls nothing."""
        ...

    def check(self) -> StoreCheck:
        """One cheap read for the daemon's store watch (server/job_store_watch.py): how
        many exports run and wait, and the schema version. Called from one thread at a
        time, every few seconds; bounded, whatever the store does: PostgreSQL reads on
        a connection of its own (a pool whose connections are all busy is not an
        outage) with a connect and a statement timeout. Unavailable when the store
        does not answer."""
        ...

    def close(self) -> None: ...
