"""The export runner: a bounded pool of worker threads taking queued jobs in order.

Cancel and shutdown both stop a running export at its next batch boundary. Cancel ends
it as cancelled and aborts its open upload; shutdown suspends that upload (stored parts
stay open and journalled) and puts the job back in the queue, so the next start resumes
it where it stopped.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field

from sluice.server.errors import (
    ErrorCode,
    FailedPrecondition,
    Interrupted,
    must_propagate,
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
    UNFINISHED_STATES,
    Job,
    JobError,
    JobState,
)
from sluice.server.log_setup import log_context
from sluice.server.pipeline.stopping import ExportStop
from sluice.server.service.events import Finished, StateChanged
from sluice.server.telemetry import report_safely
from sluice.server.tracing import export_span

_log = logging.getLogger("sluice.runner")


@dataclass
class _Running:
    stop: ExportStop = field(default_factory=ExportStop)
    done: threading.Event = field(default_factory=threading.Event)


class ExportRunner:
    def __init__(self, context: ExecutionContext) -> None:
        self._context = context
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self._closing = threading.Event()

    def start(self) -> None:
        """Start the workers and queue every unfinished job left by a previous run."""
        for number in range(self._context.settings.max_concurrent_exports):
            worker = threading.Thread(
                target=self._work, name=f"export-worker-{number}", daemon=True
            )
            worker.start()
            self._workers.append(worker)
        for job in self._context.store.unfinished():
            _log.info("picking up unfinished export %s (%s)", job.id, job.state)
            self._queue.put(job.id)

    def submit(self, job_id: str) -> None:
        self._queue.put(job_id)

    def cancel(self, job_id: str, wait_seconds: float = 10.0) -> Job:
        """Cancel a queued or running job and return it as it is afterwards."""
        store = self._context.store
        with self._lock:
            running = self._running.get(job_id)
            if running is not None:
                running.stop.cancel()
        if running is None:
            job = store.get(job_id)
            if job.state == JobState.QUEUED:
                try:
                    job = store.transition(job_id, {JobState.QUEUED}, JobState.CANCELLED)
                except FailedPrecondition:
                    # A worker took it meanwhile; cancel the running export instead.
                    return self.cancel(job_id, wait_seconds)
                discard_open_uploads(job, self._context)
                self._announce_final(job)
                return job
            if job.state not in CANCELLABLE_STATES:
                raise FailedPrecondition(
                    f"export '{job_id}' is {job.state}; only queued or "
                    "running exports can be cancelled"
                )
            return job
        running.done.wait(wait_seconds)
        return store.get(job_id)

    def shutdown(self, grace_seconds: float) -> bool:
        """Stop taking jobs, interrupt running ones at a chunk boundary and wait up to
        `grace_seconds`. Returns True when every worker stopped in time."""
        self._closing.set()
        with self._lock:
            for running in self._running.values():
                running.stop.shutdown()
        for _ in self._workers:
            self._queue.put(None)
        deadline = threading.Event()
        timer = threading.Timer(grace_seconds, deadline.set)
        timer.start()
        try:
            for worker in self._workers:
                while worker.is_alive() and not deadline.is_set():
                    worker.join(0.1)
        finally:
            timer.cancel()
        return not any(worker.is_alive() for worker in self._workers)

    def _work(self) -> None:
        while not self._closing.is_set():
            job_id = self._queue.get()
            if job_id is None or self._closing.is_set():
                return
            try:
                with log_context(export_id=job_id):
                    self._run_one(job_id)
            except BaseException as exc:
                if must_propagate(exc):
                    raise
                _log.error(
                    "export %s: unexpected failure in the runner\n%s", job_id, safe_traceback(exc)
                )

    def _run_one(self, job_id: str) -> None:
        store = self._context.store
        running = _Running()
        # Registered before the state flips, so a cancel never misses a starting export.
        with self._lock:
            self._running[job_id] = running
        try:
            job = store.transition(job_id, UNFINISHED_STATES, JobState.RUNNING)
        except FailedPrecondition:
            with self._lock:
                self._running.pop(job_id, None)
            running.done.set()
            return  # cancelled while queued, or already handled
        self._context.hub.publish(StateChanged(job_id, JobState.RUNNING))
        try:
            dataset = job.spec.destination.dataset
            with (
                log_context(dataset=dataset),
                export_span("export", export_id=job_id, dataset=dataset),
            ):
                _log.info("export %s running", job_id)
                final = self._execute(job, running)
        finally:
            with self._lock:
                self._running.pop(job_id, None)
            running.done.set()
        if final is not None:
            self._announce_final(final)

    def _execute(self, job: Job, running: _Running) -> Job | None:
        store = self._context.store
        try:
            manifest_uri = execute(job, self._context, running.stop)
        except Interrupted:
            if running.stop.cancelled:
                _log.info("export %s cancelled", job.id)
                return store.transition(job.id, {JobState.RUNNING}, JobState.CANCELLED)
            _log.info("export %s interrupted by shutdown; it resumes on next start", job.id)
            store.transition(job.id, {JobState.RUNNING}, JobState.QUEUED)
            return None
        except BaseException as exc:
            if must_propagate(exc):
                raise
            error = describe_failure(exc)
            if error.code == ErrorCode.INTERNAL:
                # The stack without messages: an unexpected error's text may quote data.
                _log.error("export %s failed\n%s", job.id, safe_traceback(exc))
            else:
                _log.warning("export %s failed: %s %s", job.id, error.code, error.message)
            return store.transition(
                job.id,
                {JobState.RUNNING},
                JobState.FAILED,
                error=JobError(str(error.code), error.message, error.transient),
            )
        _log.info("export %s succeeded: %s", job.id, manifest_uri)
        return store.transition(
            job.id, {JobState.RUNNING}, JobState.SUCCEEDED, manifest_uri=manifest_uri
        )

    def _announce_final(self, job: Job) -> None:
        report_safely(self._context.telemetry.export_finished, job)
        self._context.hub.publish(StateChanged(job.id, job.state))
        self._context.hub.publish(Finished(job.id, job))
