"""The export service: the domain API behind the gRPC servicer (which only translates).

Transport-free, so the CLI's embedded mode, tests and any future transport share it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from sluice.server.errors import FailedPrecondition, InvalidArgument
from sluice.server.jobs.model import RESUMABLE_STATES, Job, JobFilter, JobPage, JobState, NewJob
from sluice.server.jobs.store import JobStore
from sluice.server.planning.plan import build_plan, check_request_id
from sluice.server.planning.spec import ExportSpec
from sluice.server.service.events import EventHub, Finished, JobEvent, Snapshot, StateChanged
from sluice.server.service.runner import ExportRunner
from sluice.server.service.server_info import ServerInfo, describe_server
from sluice.server.service.source_catalog import SourceListing, list_sources
from sluice.server.settings import Settings
from sluice.server.templates import Template, templates

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
#: How often a watch re-checks the store and whether its caller is still there.
_WATCH_POLL_SECONDS = 1.0


def new_export_id() -> str:
    """Sortable by creation time, unique across replicas, safe in a path."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(6)


class ExportService:
    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        runner: ExportRunner,
        hub: EventHub,
        certificate_expiry: Callable[[], datetime] | None = None,
    ) -> None:
        """`certificate_expiry` tells when the certificate served now expires (TLS only)."""
        self._settings = settings
        self._certificate_expiry = certificate_expiry
        self._store = store
        self._runner = runner
        self._hub = hub

    def create(self, spec: ExportSpec, request_id: str = "") -> Job:
        check_request_id(request_id)
        export_id = new_export_id()
        if request_id:
            existing = self._store.find_by_request_id(request_id)
            if existing is not None:
                return self._same_request(existing, spec, request_id)
        build_plan(spec, self._settings, export_id)
        job, created = self._store.create(
            NewJob(export_id, spec, request_id, spec.fingerprint() if request_id else "")
        )
        if created:
            self._runner.submit(job.id)
        return job

    def get(self, job_id: str) -> Job:
        return self._store.get(job_id)

    def list(
        self,
        *,
        states: frozenset[JobState] = frozenset(),
        labels: tuple[tuple[str, str], ...] = (),
        page_size: int = 0,
        page_token: str = "",
    ) -> JobPage:
        if page_size < 0 or page_size > MAX_PAGE_SIZE:
            raise InvalidArgument("page_size", f"must be 0..{MAX_PAGE_SIZE}")
        return self._store.list(
            JobFilter(states=states, labels=labels),
            page_size=page_size or DEFAULT_PAGE_SIZE,
            page_token=page_token,
        )

    def cancel(self, job_id: str) -> Job:
        return self._runner.cancel(job_id)

    def resume(self, job_id: str) -> Job:
        job = self._store.get(job_id)
        if job.state not in RESUMABLE_STATES:
            raise FailedPrecondition(
                f"export '{job_id}' is {job.state}; only failed or cancelled exports can resume"
            )
        job = self._store.transition(job_id, RESUMABLE_STATES, JobState.QUEUED)
        self._hub.publish(StateChanged(job_id, JobState.QUEUED))
        self._runner.submit(job_id)
        return job

    def sources(self) -> tuple[SourceListing, ...]:
        """The server's named sources, with their schemas (ListSources)."""
        return tuple(list_sources(self._settings))

    def templates(self) -> tuple[Template, ...]:
        """The templates requests may name, built-in first (ListTemplates)."""
        settings = self._settings
        return tuple(templates(settings.templates, settings.backup_recipients).values())

    def server_info(self) -> ServerInfo:
        expiry = self._certificate_expiry() if self._certificate_expiry else None
        return describe_server(self._settings, expiry)

    def watch(self, job_id: str, caller_alive: Callable[[], bool]) -> Iterator[JobEvent]:
        """A snapshot, then live events, ending with Finished once the job is final."""
        with self._hub.subscribe(job_id) as subscription:
            # Subscribed before reading, so nothing between the two is missed.
            job = self._store.get(job_id)
            yield Snapshot(job_id, job, self._hub.latest_progress(job_id))
            if job.state.final:
                yield Finished(job_id, job)
                return
            while caller_alive():
                event = subscription.next(_WATCH_POLL_SECONDS)
                if event is None:
                    job = self._store.get(job_id)
                    if job.state.final:
                        yield Finished(job_id, job)
                        return
                    continue
                yield event
                if isinstance(event, Finished):
                    return

    def _same_request(self, existing: Job, spec: ExportSpec, request_id: str) -> Job:
        if existing.spec.fingerprint() != spec.fingerprint():
            raise InvalidArgument(
                "request_id",
                f"already used for a different export request (export {existing.id})",
            )
        return existing
