"""The export runner: a bounded pool of worker threads claiming jobs from the job store.

Each worker with nothing to do claims the oldest claimable job (queued, or running under
an expired lease: its replica died or stalled) and runs it under that lease; a heartbeat
renews the leases of running exports. Several replicas sharing a job store share the
work this way; one daemon on its own SQLite store is the same thing with one replica.

Cancel and shutdown both stop a running export at its next batch boundary, and within
one chunk: no chunk commit starts once they are asked for. Cancel ends it as cancelled
and aborts its open upload; shutdown suspends that upload (stored parts stay open and
journalled) and hands the job back (queued, lease released), so another replica, or the
next start, continues it at once. A cancel of an export running on another replica is
recorded in the store and honoured by that replica's heartbeat (which a CANCEL signal
wakes at once), or by the lease renewal before a chunk's commit, whichever renews
first. A run whose lease was lost stops and writes nothing more: the replica that took
it over owns its journal, its uploads and its final state.

Every run is an attempt, recorded in the store (GetExport shows them). A run that fails
transiently (server/errors.is_transient) goes back to the queue until its backoff ends,
and the next claim, on any replica, resumes after the last journalled chunk; after
max_attempts failures in a row the export fails. Only the final outcome is announced
(notifications), an attempt's failure only to watchers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sluice.server.errors import (
    Abandoned,
    ErrorCode,
    FailedPrecondition,
    Interrupted,
    LeaseLost,
    SluiceError,
    Unavailable,
    is_transient,
    must_propagate,
    safe_summary,
    safe_traceback,
)
from sluice.server.execution.executor import (
    ExecutionContext,
    describe_failure,
    discard_open_uploads,
    execute,
)
from sluice.server.jobs.model import (
    CANCELLABLE_STATES,
    AttemptEnd,
    AttemptOutcome,
    Job,
    JobError,
    JobState,
    Lease,
)
from sluice.server.jobs.signals import JobSignal, SignalKind
from sluice.server.log_setup import log_context
from sluice.server.pipeline.stopping import ExportStop
from sluice.server.pipeline.stream_source import INBOXES
from sluice.server.service.events import Finished, Snapshot, StateChanged
from sluice.server.service.retry_policy import ExportRetryPolicy
from sluice.server.telemetry import report_safely
from sluice.server.tracing import export_span

_log = logging.getLogger("sluice.runner")
#: How long a worker pauses after the store failed it.
CLAIM_POLL_SECONDS = 1.0
#: Longest a stopping replica waits, past its grace, to hand its queued puts to the
#: others (JobStore.unpin_queued).
_UNPIN_WAIT_SECONDS = 0.5
#: Longest pause between two renewals of a lease (shorter when the lease is short).
_MAX_HEARTBEAT_SECONDS = 5.0
#: How often a cancel of an export running elsewhere looks whether it ended.
_CANCEL_POLL_SECONDS = 0.2


@dataclass
class _Running:
    lease: Lease
    #: The job's revision when claimed (see _lost).
    revision: int
    stop: ExportStop = field(default_factory=ExportStop)
    done: threading.Event = field(default_factory=threading.Event)


class ExportRunner:
    def __init__(
        self, context: ExecutionContext, on_final: Callable[[Job], None] | None = None
    ) -> None:
        """`on_final` hears of every export that reaches a final state here (the
        notifier), after the state is stored."""
        self._context = context
        self._on_final = on_final
        self._replica = context.settings.replica_id
        self._lease_seconds = context.settings.job_lease_seconds
        self._retries = ExportRetryPolicy(
            context.settings.max_attempts, context.settings.retry_backoff_seconds
        )
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self._heartbeat: threading.Thread | None = None
        self._wake = threading.Event()
        #: Set to renew the leases now (a cancel of an export running here was signalled,
        #: or signals may have been missed).
        self._renew_now = threading.Event()
        self._closing = threading.Event()
        self._stopped = threading.Event()

    @property
    def replica_id(self) -> str:
        return self._replica

    def start(self) -> None:
        """Start the workers (each claims work from the store) and the lease heartbeat."""
        for number in range(self._context.settings.max_concurrent_exports):
            worker = threading.Thread(
                target=self._work, name=f"export-worker-{number}", daemon=True
            )
            worker.start()
            self._workers.append(worker)
        self._heartbeat = threading.Thread(
            target=self._renew_leases, name="lease-heartbeat", daemon=True
        )
        self._heartbeat.start()
        self._context.store.listen(self._heard)

    def _heard(self, signal: JobSignal) -> None:
        """A store signal (another replica's change): work to claim wakes an idle
        worker at once; any change wakes the watchers of its job, unless it runs here.
        The store signals this replica's own journal writes too (a chunk, a progress
        save): the watchers of a job running here have its live events from the hub
        already, and a nudge would only make each of them read the job and send its
        journalled progress (without rates, behind the live one) once per chunk.
        A cancel of a job running here makes the heartbeat renew its lease now: the
        renewal reads the request from the store (a signal is a hint, never the record)
        and stops the run, within one chunk rather than one heartbeat. So does a
        RESYNC: the signals it says may have been lost (the listener was reconnecting)
        may include such a cancel."""
        if signal.kind in (SignalKind.QUEUED, SignalKind.RESYNC):
            self._wake.set()
        if signal.kind is SignalKind.RESYNC:
            self._renew_now.set()
        if signal.kind in (SignalKind.CHANGED, SignalKind.CANCEL) and self._runs_here(
            signal.job_id
        ):
            if signal.kind is SignalKind.CANCEL:
                self._renew_now.set()
            return
        self._context.hub.nudge(signal.job_id)

    def _runs_here(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._running

    def submit(self, job_id: str) -> None:
        """A job was queued: wake an idle worker now rather than at its next poll."""
        self._wake.set()

    def cancel(self, job_id: str, wait_seconds: float = 10.0) -> Job:
        """Cancel a queued or running job (here or on another replica) and return it as
        it is afterwards (still running if its runner did not stop within wait_seconds)."""
        store = self._context.store
        with self._lock:
            running = self._running.get(job_id)
            if running is not None:
                running.stop.cancel()
        if running is not None:
            deadline = time.monotonic() + wait_seconds
            running.done.wait(wait_seconds)
            job = store.get(job_id)
            if job.state in (JobState.QUEUED, JobState.RUNNING) and not self._runs_here(job_id):
                # The local run ended without ending the export: it had lost its lease
                # (another replica runs it now) or handed it back. The cancel goes there.
                return self.cancel(job_id, max(deadline - time.monotonic(), 0.0))
            return job
        job = store.get(job_id)
        if job.state == JobState.QUEUED:
            try:
                job = store.transition(job_id, {JobState.QUEUED}, JobState.CANCELLED)
            except FailedPrecondition:
                # A worker (here or elsewhere) claimed it meanwhile; cancel that run.
                return self.cancel(job_id, wait_seconds)
            discard_open_uploads(job, self._context)
            self._announce_final(job)
            return job
        if job.state == JobState.RUNNING:
            return self._cancel_elsewhere(job_id, wait_seconds)
        if job.state not in CANCELLABLE_STATES:
            raise FailedPrecondition(
                f"export '{job_id}' is {job.state}; only queued or running exports can be cancelled"
            )
        return job

    def shutdown(self, grace_seconds: float) -> bool:
        """Stop claiming, interrupt running exports at a chunk boundary (each hands its
        job back) and wait up to `grace_seconds`. Returns True when every worker stopped
        in time. Leases of exports still running after that expire on their own."""
        self._closing.set()
        self._wake.set()
        with self._lock:
            stopping = list(self._running)
            for running in self._running.values():
                running.stop.shutdown()
        for job_id in stopping:
            # Said once the stop is set: from here no chunk commit of it starts.
            _log.info("export %s: stopping for shutdown", job_id)
        deadline = time.monotonic() + grace_seconds
        for worker in self._workers:
            while worker.is_alive() and time.monotonic() < deadline:
                worker.join(0.1)
        clean = not any(worker.is_alive() for worker in self._workers)
        self._unpin_queued(max(deadline - time.monotonic(), _UNPIN_WAIT_SECONDS))
        self._stopped.set()
        self._renew_now.set()  # the heartbeat sees `_stopped` now, not an interval later
        return clean

    def _unpin_queued(self, timeout: float) -> None:
        """The queued DoPut exports pinned here become any replica's (JobStore.
        unpin_queued): this replica may never come back by its name. With the store
        down they stay pinned (logged): the replica, or a pin by a resumed put, runs them.
        Waits at most `timeout` (a store that is down holds a call for the pool's wait,
        which would overrun the shutdown grace), on a thread left behind after it."""
        replica = self._context.settings.replica_id
        said: list[str] = []

        def unpin() -> None:
            try:
                ids = self._context.store.unpin_queued(replica, self._put_resume_window())
            except Exception as exc:  # noqa: BLE001 - the stop goes on (a store down, or closed by the stop after the wait)
                said.append(safe_summary(exc))
                return
            for job_id in ids:
                _log.info("export %s: queued put handed to any replica (this one stops)", job_id)

        thread = threading.Thread(target=unpin, name="unpin-queued-puts", daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive() or said:
            _log.warning(
                "could not hand the queued puts pinned to replica %s to the other replicas"
                " (%s): they wait for it, or for a put that resumes them",
                replica,
                said[0] if said else f"the job store did not answer within {timeout:.1f} s",
            )

    def _put_resume_window(self) -> timedelta:
        """How long a put unpinned at shutdown waits for its client's retry, which may
        land on any replica, before another replica may claim it (and end it cancelled
        once no batch comes): one idle timeout, as a put that stops sending has."""
        return timedelta(seconds=self._context.settings.flight_put_idle_timeout)

    # -- claiming and running --------------------------------------------------------

    def _work(self) -> None:
        while not self._closing.is_set():
            try:
                claimed = self._claim()
                if claimed is None:
                    # Until a local submit, or a store signal (work queued on another
                    # replica), wakes it; the poll finds expired leases and lost signals.
                    self._wake.wait(self._context.settings.job_store_poll_seconds)
                    self._wake.clear()
                    continue
                with log_context(export_id=claimed[0].id):
                    self._run_claimed(*claimed)
            except Unavailable as exc:
                # The job store went away under a run (it could not even record how the
                # run ended): an outage, not a bug. The lease expires; the export resumes
                # after its last journalled chunk once the store is back.
                _log.warning(
                    "job store unavailable while running an export (%s): it resumes after "
                    "its last journalled chunk once the store is back",
                    exc.message,
                )
                self._closing.wait(CLAIM_POLL_SECONDS)
            except BaseException as exc:
                if must_propagate(exc):
                    raise
                _log.error("unexpected failure in the runner\n%s", safe_traceback(exc))
                self._closing.wait(CLAIM_POLL_SECONDS)

    def _claim(self) -> tuple[Job, Lease] | None:
        try:
            return self._context.store.claim(
                self._replica,
                self._lease_seconds,
                self._context.settings.max_running_per_principal,
            )
        except SluiceError as exc:
            _log.warning("cannot claim work from the job store: %s", exc.message)
            self._closing.wait(CLAIM_POLL_SECONDS)
            return None

    def _run_claimed(self, job: Job, lease: Lease) -> None:
        running = _Running(lease, job.revision)
        with self._lock:
            self._running[job.id] = running
        if job.cancel_requested:
            running.stop.cancel()
        if self._closing.is_set():
            running.stop.shutdown()  # claimed while shutting down: hand it back below
        self._context.hub.publish(StateChanged(job.id, JobState.RUNNING, revision=job.revision))
        try:
            self._context.store.begin_attempt(lease)
        except LeaseLost as exc:
            self._lost(job.id, exc)
            with self._lock:
                self._running.pop(job.id, None)
            running.done.set()
            return
        except SluiceError as exc:
            # Bookkeeping only: the run goes on, its attempt unrecorded.
            _log.warning("export %s: cannot record its attempt: %s", job.id, exc.message)
        try:
            dataset = job.spec.destination.dataset
            with (
                log_context(dataset=dataset),
                export_span("export", export_id=job.id, dataset=dataset),
            ):
                _log.info(
                    "export %s running on replica %s (lease %d)", job.id, lease.owner, lease.token
                )
                final = self._execute(job, running)
        finally:
            with self._lock:
                self._running.pop(job.id, None)
            running.done.set()
        if final is not None:
            self._announce_final(final)

    def _execute(self, job: Job, running: _Running) -> Job | None:
        store = self._context.store
        lease = running.lease
        try:
            manifest_uri = execute(job, self._context, running.stop, lease)
        except LeaseLost as exc:
            self._end_attempt(lease, AttemptOutcome.LEASE_LOST)
            self._lost(job.id, exc)
            return None
        except Interrupted as exc:
            if running.stop.lease_lost:
                self._end_attempt(lease, AttemptOutcome.LEASE_LOST)
                self._lost(job.id, None)
                return None
            if running.stop.cancelled or isinstance(exc, Abandoned):
                _log.info("export %s cancelled", job.id)
                # Nobody asked for an abandoned source's cancel: the export says why.
                abandoned = isinstance(exc, Abandoned) and not running.stop.cancelled
                reason = JobError(str(ErrorCode.CANCELLED), exc.message) if abandoned else None
                return self._cancelled(job.id, lease, reason)
            _log.info("export %s interrupted by shutdown; handed back to the queue", job.id)
            # Its attempt ends HANDED_BACK with the release, in one transaction.
            self._fenced(lease, lambda: store.release(lease, self._put_resume_window()))
            return None
        except BaseException as exc:
            if must_propagate(exc):
                raise
            return self._failed(job, running, exc)
        _log.info("export %s succeeded: %s", job.id, manifest_uri)
        return self._fenced(
            lease,
            lambda: store.transition(
                job.id,
                {JobState.RUNNING},
                JobState.SUCCEEDED,
                manifest_uri=manifest_uri,
                lease=lease,
                attempt=AttemptEnd(AttemptOutcome.SUCCEEDED),
            ),
        )

    def _cancelled(self, job_id: str, lease: Lease, reason: JobError | None = None) -> Job | None:
        """End the run and the export as CANCELLED (one transaction), with `reason` when
        the cancel was not asked for (None: a CancelExport, whose caller knows why)."""
        return self._fenced(
            lease,
            lambda: self._context.store.transition(
                job_id,
                {JobState.RUNNING},
                JobState.CANCELLED,
                error=reason,
                lease=lease,
                attempt=AttemptEnd(AttemptOutcome.CANCELLED, reason),
            ),
        )

    def _failed(self, job: Job, running: _Running, exc: BaseException) -> Job | None:
        """A run that raised: back to the queue after a backoff when the failure is
        transient and failed attempts in a row are below max_attempts (None: not final);
        otherwise the export fails, naming the attempts when there were several."""
        store, lease = self._context.store, running.lease
        error = describe_failure(exc)
        if error.code == ErrorCode.INTERNAL:
            # The stack without messages: an unexpected error's text may quote data.
            _log.error("export %s failed\n%s", job.id, safe_traceback(exc))
        else:
            _log.warning("export %s failed: %s %s", job.id, error.code, error.message)
        transient = is_transient(exc)
        # An export never ends failed without a reason, even one raised without words.
        message = error.message or f"{error.code} ({type(exc).__name__}, without a message)"
        failed = JobError(str(error.code), message, transient)
        if transient and not running.stop.cancelled:
            failures = self._failures_in_a_row(job.id)
            if self._retries.retries_left(failures):
                if not self._retry_later(job.id, lease, failed, failures):
                    return None
                # A cancel arrived before the retry was queued: it wins.
                _log.info("export %s cancelled", job.id)
                return self._cancelled(job.id, lease)
            if failures > 1:
                message = f"{message} (gave up after {failures} attempts)"
        return self._fenced(
            lease,
            lambda: store.transition(
                job.id,
                {JobState.RUNNING},
                JobState.FAILED,
                error=JobError(str(error.code), message, transient),
                lease=lease,
                attempt=AttemptEnd(AttemptOutcome.FAILED, failed),
            ),
        )

    def _failures_in_a_row(self, job_id: str) -> int:
        try:
            return self._retries.failures_in_a_row(self._context.store.attempts(job_id))
        except SluiceError as exc:
            # Without the count, assume the worst: no retry loop on a broken store.
            _log.warning("export %s: cannot read its attempts: %s", job_id, exc.message)
            return self._retries.max_attempts

    def _retry_later(self, job_id: str, lease: Lease, error: JobError, failures: int) -> bool:
        """Queue the job again after its backoff; True when a cancel was asked for first
        (nothing queued: the caller cancels it instead)."""
        delay = self._retries.delay(failures)
        not_before = datetime.now(UTC) + timedelta(seconds=delay)
        queued = self._fenced(
            lease, lambda: self._context.store.retry_later(lease, error, not_before)
        )
        if queued is None:
            return False
        if queued.state is JobState.RUNNING:
            return True
        _log.warning(
            "export %s: attempt failed transiently (%d of at most %d in a row); "
            "it runs again in %.1fs, resuming after its last journalled chunk",
            job_id,
            failures,
            self._retries.max_attempts,
            delay,
        )
        hub = self._context.hub
        hub.publish(StateChanged(job_id, JobState.QUEUED, revision=queued.revision))
        hub.publish(Snapshot(job_id, self._with_attempts(queued) or queued))
        return False

    def _with_attempts(self, job: Job) -> Job | None:
        """`job` with its attempts, as watchers are shown it; None when the store cannot
        say (the event matters more than its history)."""
        try:
            return replace(job, attempts=tuple(self._context.store.attempts(job.id)))
        except SluiceError as exc:
            _log.warning("export %s: cannot read its attempts: %s", job.id, exc.message)
            return None

    def _end_attempt(
        self, lease: Lease, outcome: AttemptOutcome, error: JobError | None = None
    ) -> None:
        """Record how this run ended; bookkeeping, so a store failure only logs."""
        try:
            self._context.store.end_attempt(lease, outcome, error)
        except SluiceError as exc:
            _log.warning(
                "export %s: cannot record its attempt's end: %s", lease.job_id, exc.message
            )

    def _fenced(self, lease: Lease, write: Callable[[], Job]) -> Job | None:
        """A final write under the run's lease (ending its attempt too); None when the
        lease is lost (the replica holding it now decides the job's state, and this
        run's attempt ends LEASE_LOST)."""
        try:
            return write()
        except LeaseLost as exc:
            self._end_attempt(lease, AttemptOutcome.LEASE_LOST)
            self._lost(lease.job_id, exc)
            return None

    def _lost(self, job_id: str, exc: LeaseLost | None) -> None:
        reason = f": {exc.message}" if exc is not None else ""
        _log.warning(
            "export %s stopped here: its lease was taken over by another replica%s",
            job_id,
            reason,
        )
        # No end is announced here (the replica holding the lease decides it), yet this
        # run reads its stream no more: drop its inbox, or its batches stayed and a put
        # parked in it counted against its principal's flight_parked_puts_per_principal
        # until a restart. An inbox a resume made since the claim is kept.
        with self._lock:
            running = self._running.get(job_id)
        if running is not None:
            INBOXES.discard(job_id, running.revision)

    def _cancel_elsewhere(self, job_id: str, wait_seconds: float) -> Job:
        """Record a cancel for the replica running the job and wait for it to end."""
        store = self._context.store
        job = store.request_cancel(job_id)
        deadline = time.monotonic() + wait_seconds
        while job.state == JobState.RUNNING and time.monotonic() < deadline:
            time.sleep(_CANCEL_POLL_SECONDS)
            job = store.get(job_id)
        if job.state == JobState.QUEUED:
            # Handed back meanwhile (its replica shut down): cancel it in the queue.
            return self.cancel(job_id, max(deadline - time.monotonic(), 0.0))
        return job

    # -- leases ------------------------------------------------------------------------

    def _renew_leases(self) -> None:
        interval = min(self._lease_seconds / 3, _MAX_HEARTBEAT_SECONDS)
        while True:
            self._renew_now.wait(interval)
            self._renew_now.clear()
            if self._stopped.is_set():
                return
            with self._lock:
                runs = list(self._running.values())
            for running in runs:
                try:
                    self._renew(running)
                except BaseException as exc:
                    if must_propagate(exc):
                        raise
                    # The heartbeat must outlive any one failure, or every lease expires.
                    _log.error("lease heartbeat failed\n%s", safe_traceback(exc))

    def _renew(self, running: _Running) -> None:
        if running.done.is_set():
            return
        try:
            cancel_requested = self._context.store.renew(running.lease, self._lease_seconds)
        except LeaseLost:
            _log.warning(
                "export %s: lease lost (token %d); stopping it",
                running.lease.job_id,
                running.lease.token,
            )
            running.stop.lose_lease()
        except SluiceError as exc:
            # The store may come back before the lease ends; if not, fencing refuses
            # this replica's next write and another replica continues the export.
            _log.warning("cannot renew the lease of %s: %s", running.lease.job_id, exc.message)
        else:
            if cancel_requested and not running.stop.cancelled:
                running.stop.cancel()
                _log.info("export %s: cancel requested through the job store", running.lease.job_id)

    def _announce_final(self, job: Job) -> None:
        # A stream export's inbox may still hold batches read ahead: free them (a later
        # put resuming a cancelled or failed export gets a new one; one a resume made
        # since this end is that put's, and stays).
        INBOXES.discard(job.id, job.revision)
        report_safely(self._context.telemetry.export_finished, job)
        self._context.hub.publish(StateChanged(job.id, job.state, revision=job.revision))
        # With its attempts, read once here rather than by each of its watchers (each
        # reads them itself when they could not be read here).
        with_attempts = self._with_attempts(job)
        self._context.hub.publish(
            Finished(job.id, with_attempts or job, with_attempts=with_attempts is not None)
        )
        if self._on_final is not None:
            self._on_final(job)
