"""The export service: the domain API behind the gRPC servicer (which only translates).

Transport-free, so the CLI's embedded mode, tests and any future transport share it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sluice.server.committed.chain_tips import ChainTip
from sluice.server.committed.sealed_values import ValueSealer
from sluice.server.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RequestIdInUse,
)
from sluice.server.jobs.increment_chains import chain_tip, check_one_increment
from sluice.server.jobs.model import (
    RESUMABLE_STATES,
    Job,
    JobFilter,
    JobPage,
    JobState,
    NewJob,
    Progress,
)
from sluice.server.jobs.store import JobStore
from sluice.server.notifications.targets import check_notify
from sluice.server.pipeline.source import ResolvedSource
from sluice.server.pipeline.stream_source import INBOXES, is_stream_uri
from sluice.server.planning.authorization import (
    check_source_files,
    check_spec_access,
    may_name_source,
    may_see,
    require_scope,
)
from sluice.server.planning.named_source_plan import (
    is_configured_fault,
    named_source_error,
)
from sluice.server.planning.plain_request import NamedSource, TextPlan, parse_request
from sluice.server.planning.plan import ExportPlan, check_caller_request_id, check_request_id
from sluice.server.planning.pushed_sources import refuse_pushed_source, refuse_pushed_sources
from sluice.server.planning.spec import ExportSpec
from sluice.server.planning.subject_package import (
    PackagePlan,
    build_export_plan,
    denied_in_package,
    resolved_specs,
    with_resolved_sources,
)
from sluice.server.planning.template_plan import with_default_template
from sluice.server.principals import ANONYMOUS, Principal, Scope
from sluice.server.service.caller_limits import CallerLimits
from sluice.server.service.events import (
    EventHub,
    Finished,
    JobEvent,
    LiveProgress,
    ProgressUpdated,
    Snapshot,
    StateChanged,
    Subscription,
)
from sluice.server.service.runner import ExportRunner
from sluice.server.service.server_info import ServerInfo, describe_server
from sluice.server.service.source_catalog import SourceListing, list_sources
from sluice.server.service.store_followers import StoreFollower, StoreFollowers
from sluice.server.settings import Settings
from sluice.server.templates import Template, templates
from sluice.sinks.locations import without_secrets

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
#: How often a watch looks whether its caller is still there (its export's follower reads
#: the store at settings.job_store_poll_seconds and wakes it after each read).
_WATCH_POLL_SECONDS = 1.0


def plan_export(
    spec: ExportSpec,
    settings: Settings,
    export_id: str,
    check_files: Callable[[ResolvedSource], None] | None = None,
    *,
    owner: str,
    chain_tip: ChainTip | None = None,
    sealer: ValueSealer | None = None,
) -> ExportPlan | PackagePlan:
    """Check a request as CreateExport does, notify targets included, and plan it; a
    schedule is checked with this too, so a tick cannot fail on what creation could
    have said (InvalidArgument naming the first bad field). `chain_tip`: an increment's
    chain's newest export as the job store knows it (increment_chains.chain_tip);
    `sealer` opens an encrypted parent's sealed watermark with the daemon's key."""
    check_notify(spec.notify, settings)
    try:
        return build_export_plan(
            spec,
            settings,
            export_id,
            check_files,
            owner=owner,
            chain_tip=chain_tip,
            sealer=sealer,
        )
    except InvalidArgument as exc:
        if spec.subject is None and spec.source.name and is_configured_fault(exc, spec.source):
            raise named_source_error(spec.source.name, exc, spec.source) from None
        raise


def check_scheduled_spec(
    spec: ExportSpec, *, settings: Settings, sealer: ValueSealer | None = None
) -> None:
    """A schedule's spec, checked as each tick will queue it: the server's own export,
    never of a `flight:` source (which only a DoPut feeds); `sealer`, of the key the
    daemon loaded, opens an encrypted parent's sealed watermark."""
    refuse_pushed_sources(spec, settings)
    plan_export(spec, settings, new_export_id(), owner=ANONYMOUS.name, sealer=sealer)


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
        *,
        sealer: ValueSealer | None = None,
    ) -> None:
        """`certificate_expiry` tells when the certificate served now expires (TLS only);
        `sealer`, of the content-digest key the daemon loaded, opens an encrypted
        parent's sealed watermark when an increment is planned."""
        self._settings = settings
        self._sealer = sealer
        self._certificate_expiry = certificate_expiry
        self._store = store
        self._runner = runner
        self._hub = hub
        #: (name, description) of the named sources (`[sources.NAME]`) a plain-language
        #: request may mean ("my job applications" -> applications).
        self._named_sources: tuple[NamedSource, ...] = tuple(
            NamedSource(name, entry.description) for name, entry in settings.sources.items()
        )
        self._limits = CallerLimits(settings, store)
        self._followers = StoreFollowers(store, hub, settings.job_store_poll_seconds)

    def create(
        self,
        spec: ExportSpec,
        request_id: str = "",
        *,
        principal: Principal,
        runs_on: str = "",
        pushed: bool = False,
    ) -> Job:
        """Queue an export (or return the one `request_id` already made). `runs_on`
        keeps it to one replica (a DoPut's, where its records arrive). `pushed`: Arrow
        Flight's DoPut asks, for the records its caller pushes (a `flight:` source);
        any other request naming such a source is refused (pushed_sources.py)."""
        require_scope(principal, Scope.CREATE)
        check_caller_request_id(request_id)
        existing = (
            self._store.find_by_request_id(request_id, principal.name) if request_id else None
        )
        # Stored as it will run (a package without a template takes gdpr's), and compared
        # so with a retried request. A retry of a request accepted before that default
        # is the request stored then, without the template: compared (and checked) so —
        # only for the caller who may see that export, or the answer would tell another
        # principal whether a guessed request matches theirs.
        accepted = with_default_template(spec)
        if (
            existing is not None
            and may_see(principal, existing)
            and existing.spec.fingerprint() == spec.fingerprint()
        ):
            accepted = spec
        return self._queue(accepted, request_id, existing, principal, runs_on, pushed)

    def create_scheduled(self, spec: ExportSpec, request_id: str) -> Job:
        """A schedule tick's export, as the server's own (created_by ""): only an admin
        may create a schedule, and its spec was checked then. The spec runs as the
        schedule stored it: a package's default template was applied when the schedule
        was created, and one stored before packages took gdpr runs as it always did
        (README "Schedules")."""
        check_request_id(request_id)
        existing = (
            self._store.find_by_request_id(request_id, ANONYMOUS.name) if request_id else None
        )
        return self._queue(spec, request_id, existing, ANONYMOUS, "", pushed=False)

    def _queue(
        self,
        spec: ExportSpec,
        request_id: str,
        existing: Job | None,
        principal: Principal,
        runs_on: str,
        pushed: bool,
    ) -> Job:
        """Queue `spec` as accepted (or return `existing`, the export `request_id` made)."""
        try:
            for resolved in resolved_specs(spec, self._settings):
                if not pushed:
                    refuse_pushed_source(spec, resolved)
                check_spec_access(resolved, principal)
        except PermissionDenied as exc:
            raise denied_in_package(exc, spec, self._settings) from None
        if existing is not None:
            return self._same_request(existing, spec, request_id, principal)
        check_one_increment(self._store, spec, principal.name)
        export_id = new_export_id()
        planned = plan_export(
            spec,
            self._settings,
            export_id,
            lambda source: check_source_files(principal, source.files, "spec.source.uri", source),
            owner=principal.name,
            chain_tip=chain_tip(self._store, spec, principal.name),
            sealer=self._sealer,
        )
        # A package of "every source with a subject_column" is stored with the sources it
        # was planned with: a run resumed after the config changed reads the same ones.
        stored = with_resolved_sources(spec, planned) if isinstance(planned, PackagePlan) else spec
        with self._limits.queue_admission(principal):
            job, created = self._store.create(
                NewJob(
                    export_id,
                    stored,
                    request_id,
                    spec.fingerprint() if request_id else "",
                    created_by=principal.name,
                    runs_on=runs_on,
                )
            )
        if created:
            self._runner.submit(job.id)
        elif not may_see(principal, job):  # another principal took the request id meanwhile
            raise RequestIdInUse()
        return job

    def get(self, job_id: str, principal: Principal) -> Job:
        """The job (with its per-stage counters, kept on the job by the store), its
        attempts and its notification deliveries."""
        require_scope(principal, Scope.READ)
        job = self._with_attempts(self._visible(job_id, principal))
        if not job.spec.notify:
            return job
        return replace(job, notifications=tuple(self._store.notifications(job_id)))

    def _with_attempts(self, job: Job) -> Job:
        """`job` with its attempts (every run so far, and how each ended)."""
        return replace(job, attempts=tuple(self._store.attempts(job.id)))

    def _visible(self, job_id: str, principal: Principal) -> Job:
        """The job, when `principal` may see it; otherwise NOT_FOUND, as if it did not
        exist (the same message the store gives)."""
        job = self._store.get(job_id)
        if not may_see(principal, job):
            raise NotFound(f"export '{without_secrets(job_id)}' not found")
        return job

    def list(
        self,
        *,
        states: frozenset[JobState] = frozenset(),
        labels: tuple[tuple[str, str], ...] = (),
        page_size: int = 0,
        page_token: str = "",
        principal: Principal,
    ) -> JobPage:
        require_scope(principal, Scope.READ)
        if page_size < 0 or page_size > MAX_PAGE_SIZE:
            raise InvalidArgument("page_size", f"must be 0..{MAX_PAGE_SIZE}")
        owner = None if principal.admin else principal.name
        return self._store.list(
            JobFilter(states=states, labels=labels, created_by=owner),
            page_size=page_size or DEFAULT_PAGE_SIZE,
            page_token=page_token,
        )

    def cancel(self, job_id: str, principal: Principal) -> Job:
        require_scope(principal, Scope.CANCEL)
        self._visible(job_id, principal)
        return self._runner.cancel(job_id)

    def resume(self, job_id: str, principal: Principal, *, pushed: bool = False) -> Job:
        """Queue a failed or cancelled export again. `pushed`: Arrow Flight's DoPut
        resumes it (server/flight/puts.py), bringing the records a stream export reads;
        such an export resumed otherwise would hold a run slot nothing feeds until
        flight_put_idle_timeout, so it is refused."""
        require_scope(principal, Scope.CREATE)
        job = self._visible(job_id, principal)
        if job.state not in RESUMABLE_STATES:
            raise FailedPrecondition(_not_resumable(job_id, job.state))
        if is_stream_uri(job.spec.source.uri) and not pushed:
            raise FailedPrecondition(
                f"export '{job_id}' reads records pushed by Arrow Flight DoPut: a DoPut"
                " export resumes by a DoPut with the same request id"
            )
        # Its next end is news again: the store re-arms its notifications (new delivery
        # ids) in the transaction that queues it.
        try:
            job = self._store.transition(job_id, RESUMABLE_STATES, JobState.QUEUED)
        except FailedPrecondition:
            # A delete (or another resume) came first: said in the user's terms, not
            # the store's compare-and-set wording.
            raise FailedPrecondition(
                _not_resumable(job_id, self._store.get(job_id).state)
            ) from None
        if is_stream_uri(job.spec.source.uri):
            # Only this resume won the compare-and-set: its run reads a new inbox, never
            # the one the last run closed (which that run's end then discards).
            INBOXES.renew(job_id, self._settings.flight_inflight_batches, job.revision)
        self._hub.publish(StateChanged(job_id, JobState.QUEUED, revision=job.revision))
        self._runner.submit(job_id)
        return job

    def plan_from_text(self, text: str, time_zone: str = "", *, principal: Principal) -> TextPlan:
        """Read a plain-language request relative to now in `time_zone` (IANA; "" the
        daemon's local zone). Creates nothing. "Encrypted" needs the configured backup
        recipients (or passphrase secret): InvalidArgument on "text" without them."""
        require_scope(principal, Scope.READ)
        zone = _zone(time_zone)
        now = datetime.now(UTC).astimezone(zone)
        # Only the named sources the caller may read: another's is neither planned nor
        # told apart from one that does not exist.
        mine = tuple(s for s in self._named_sources if self._may_name(principal, s.name))
        plan = parse_request(text, now, mine)
        settings = self._settings
        if plan.encryption == "recipients":
            if not settings.backup_recipients:
                raise InvalidArgument(
                    "text", "asks for encryption, but the daemon has no backup_recipients"
                )
            plan = replace(plan, age_recipients=settings.backup_recipients)
        elif plan.encryption == "passphrase":
            if not settings.backup_passphrase_secret:
                raise InvalidArgument(
                    "text", "asks for a passphrase, but the daemon has no backup_passphrase_secret"
                )
            plan = replace(plan, passphrase_secret=settings.backup_passphrase_secret)
        return plan

    def sources(self, principal: Principal) -> tuple[SourceListing, ...]:
        """The server's named sources the caller may read, with their schemas
        (ListSources)."""
        require_scope(principal, Scope.READ)
        return tuple(list_sources(self._settings, lambda name: self._may_name(principal, name)))

    def _may_name(self, principal: Principal, name: str) -> bool:
        named = self._settings.sources[name]
        return may_name_source(principal, named.uri, named.profile)

    def templates(self, principal: Principal) -> tuple[Template, ...]:
        """The templates requests may name, built-in first (ListTemplates)."""
        require_scope(principal, Scope.READ)
        settings = self._settings
        found = templates(settings.templates, settings.backup_recipients).values()
        # One bound to a named source the caller may not read is left out, as that source
        # is from ListSources: its source's name, description and redaction describe
        # another's data (and a request naming it is refused anyway).
        return tuple(
            t
            for t in found
            if t.source_name not in settings.sources or self._may_name(principal, t.source_name)
        )

    def server_info(self, principal: Principal) -> ServerInfo:
        expiry = self._certificate_expiry() if self._certificate_expiry else None
        return describe_server(self._settings, expiry, principal.name)

    def watch(
        self, job_id: str, caller_alive: Callable[[], bool], principal: Principal
    ) -> Iterator[JobEvent]:
        """A snapshot, then live events, ending with Finished once the job is final. An
        export running on another replica sharing the store publishes nothing here: its
        state and journalled progress are read from the store when the store signals a
        change (PostgreSQL NOTIFY) and at every poll (job_store_poll_seconds), once for
        all its watchers here (server.service.store_followers)."""
        require_scope(principal, Scope.READ)
        with (
            self._limits.watch_slot(principal),
            self._hub.subscribe(job_id, progress=False, hub_nudges=False) as subscription,
            self._followers.follow(subscription) as follower,
        ):
            # Subscribed before reading, so nothing between the two is missed; one read
            # serves the visibility check too (a hundred watchers start at once). Only a
            # caller that may watch counts among the watchers that pace progress; what
            # progress it missed meanwhile is the hub's latest, in its snapshot. The
            # follower's reads from then on are this watcher's too, whenever each began:
            # the job's revision tells which are newer than the snapshot.
            job = self._visible(job_id, principal)
            self._hub.follow_progress(subscription)
            yield from self._follow(self._with_attempts(job), subscription, follower, caller_alive)

    def _follow(
        self,
        job: Job,
        subscription: Subscription,
        follower: StoreFollower,
        caller_alive: Callable[[], bool],
    ) -> Iterator[JobEvent]:
        """watch() once subscribed, from `job` as it was read then. What it sends next
        is ordered by the job's own revision, not by when a read began: a store read or
        a published state is news only when it is newer than the last one sent."""
        job_id = job.id
        live = self._hub.latest_progress(job_id)
        yield Snapshot(job_id, job, live)
        if job.state.final:
            yield Finished(job_id, job)
            return
        #: The job as this watcher was last told of it: its state, and its revision.
        seen = job
        #: The number of the last follower read looked at (StoreRead.number).
        looked = 0
        #: The last progress this watcher was sent: a store read never sends it back.
        shown = live.progress if live is not None else job.progress
        while caller_alive():
            event = subscription.next(_WATCH_POLL_SECONDS)
            if event is None:
                # The follower read the store (at its poll, or when the store signalled
                # a change: another replica runs the export), or the caller's check.
                read = follower.latest()
                if read is None or read.number <= looked:
                    continue
                looked = read.number
                # A failed read is each watcher's own again: it fails as it would have.
                job = read.job if read.job is not None else self._store.get(job_id)
                if job.revision <= seen.revision:
                    # What the watcher has already, or older: a read that began before
                    # its snapshot, or before a state published to it, and read the row
                    # as it was then.
                    continue
                if job.state.final:
                    yield Finished(
                        job_id, job if read.job is not None else self._with_attempts(job)
                    )
                    return
                # While the export runs here the hub has its live progress, newer than
                # the journal and paced: the store read then brings state changes only.
                running_here = self._hub.latest_progress(job_id) is not None
                for change in _remote_changes(seen, job, shown, running_here):
                    if isinstance(change, ProgressUpdated):
                        shown = change.live.progress
                    yield change
                seen = job
                continue
            if isinstance(event, Finished | Snapshot) and event.job.revision < seen.revision:
                # Published late, of a write older than what the watcher was sent (the
                # export was resumed since it ended): not its end, nor its state now.
                continue
            if isinstance(event, Finished):
                # The runner reads the attempts once for all watchers; when the store
                # could not say then, each reads them (and fails if it still cannot).
                if not event.with_attempts:
                    event = Finished(job_id, self._with_attempts(event.job), event.time)
                yield event
                return
            if isinstance(event, ProgressUpdated):
                shown = event.live.progress
            elif isinstance(event, StateChanged):
                if event.state is seen.state:
                    # Published between the subscription and the snapshot read, which
                    # showed it already: the watcher has this state.
                    continue
                if event.revision is not None:
                    if event.revision <= seen.revision:
                        # Written before what the watcher was sent (published late, after
                        # a snapshot or a store read of a later write): sent, the state
                        # would go backwards.
                        continue
                    seen = replace(seen, state=event.state, revision=event.revision)
                else:
                    seen = replace(seen, state=event.state)
                # Sent: a store read of the same write (or an older one) sends nothing.
            yield event

    def _same_request(
        self, existing: Job, spec: ExportSpec, request_id: str, principal: Principal
    ) -> Job:
        if not may_see(principal, existing):
            # Another principal's request id: no export id, so nothing of it is revealed.
            raise RequestIdInUse()
        # A deleted export's request is forgotten (JobStore.mark_deleted): its spec is
        # masked, so a retry can no longer be told from another request with its id.
        # Either gets the deleted export, never a new one (which would export again
        # what was just deleted); a put learns it is deleted (server/flight/puts.py).
        if existing.state != JobState.DELETED and existing.spec.fingerprint() != spec.fingerprint():
            raise RequestIdInUse(existing.id)
        return existing


def _zone(name: str) -> tzinfo:
    if not name:
        local = datetime.now().astimezone().tzinfo
        return local if local is not None else UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidArgument("time_zone", f"'{name}' is not an IANA time zone") from None


def _remote_changes(
    before: Job, now: Job, shown: Progress, running_here: bool
) -> Iterator[JobEvent]:
    """What changed in the store between two reads of a job no local event announced
    (it runs on another replica, or changed hands): its state, and its journalled
    progress when that is ahead of `shown` (the last progress the watcher was sent) and
    the export does not run here (`running_here`: the journal lags the live progress)."""
    if now.state != before.state:
        yield StateChanged(now.id, now.state)
    if not running_here and _ahead(now.progress, shown):
        yield ProgressUpdated(now.id, LiveProgress(now.progress))


def _ahead(progress: Progress, shown: Progress) -> bool:
    """Whether `progress` moved past `shown` and back on no count, so a watcher sent it
    after `shown` never sees progress go backwards."""
    now, then = (
        (p.records, p.chunks, p.stored_bytes, p.source_rows_done) for p in (progress, shown)
    )
    return now != then and all(a >= b for a, b in zip(now, then, strict=True))


def _not_resumable(job_id: str, state: JobState) -> str:
    if state == JobState.DELETED:
        return f"export '{job_id}' was deleted; it cannot be resumed"
    return f"export '{job_id}' is {state}; only failed or cancelled exports can resume"
