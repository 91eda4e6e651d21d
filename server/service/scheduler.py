"""The scheduler: turns due schedule ticks into exports, exactly once per tick.

Each tick's export gets a request id derived from the schedule and the tick time
(concurrency "allow") or from the schedule's last export (concurrency "forbid", shared
with TriggerSchedule, so triggers racing each other or a tick are one export too), so
however many schedulers (replicas, restarts) see one tick, CreateExport's idempotency
makes it one export; the schedule row then advances by compare-and-set on its next
tick, so only one of them records it. A crash between the two is harmless: the next
pass creates "again", gets the same export back, and records it.

The scheduler takes a clock, so tests move time instead of waiting for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Final

from sluice.server.errors import FailedPrecondition, NotFound, RequestIdInUse, SluiceError
from sluice.server.jobs import forgotten_values
from sluice.server.jobs.model import UNFINISHED_STATES, Job
from sluice.server.jobs.schedules import Schedule, ScheduleStore, TickRecord
from sluice.server.jobs.store import JobStore
from sluice.server.pipeline.polars_panics import POLARS_FAILURES
from sluice.server.planning.spec import ExportSpec
from sluice.server.service.cron_times import CronTimes

_log = logging.getLogger("sluice.scheduler")

Clock = Callable[[], datetime]
#: Creates an export of the spec as the schedule stored it (ExportService.create_scheduled:
#: no default applied again), idempotent by request id.
StartExport = Callable[[ExportSpec, str], Job]

#: The label every scheduled export carries: `sluice export list --label
#: sluice.schedule=NAME` lists a schedule's runs.
SCHEDULE_LABEL: Final = forgotten_values.SCHEDULE_LABEL
#: Most missed ticks counted one by one after downtime (beyond, counting stops; the
#: schedule still runs at most once).
_MAX_COUNTED_TICKS: Final = 1_000
#: The smallest step between two instants (datetime's resolution).
_INSTANT: Final = timedelta(microseconds=1)


def utc_now() -> datetime:
    return datetime.now(UTC)


def tick_request_id(schedule: Schedule, tick: datetime) -> str:
    """The request id of the export a tick creates under concurrency "allow": the same
    on every replica."""
    return f"schedule/{schedule.name}/{schedule.uid}/{tick.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def next_export_request_id(schedule: Schedule, after: str | None = None) -> str:
    """The request id of the export that follows the schedule's last one, under
    concurrency "forbid", whether a tick or TriggerSchedule starts it. Checking that the
    last export ended and then creating one is not atomic: replicas triggering at once,
    or a trigger racing a tick, all pass the check. With one request id for "the export
    after X" they create one export (CreateExport's idempotency), and compare-and-set on
    the schedule's last export records it once. A crash before the record is harmless:
    the next attempt gets the same export back. `after`: the last export id to follow
    (default: the schedule's)."""
    last = schedule.last_export_id if after is None else after
    return f"schedule/{schedule.name}/{schedule.uid}/after-{last or 'none'}"


class _MovedMeanwhile(Exception):
    """Another scheduler or trigger recorded a later export while this one caught up."""


def scheduled_spec(schedule: Schedule) -> ExportSpec:
    """The schedule's spec with its label, as each of its exports runs it."""
    labels = dict(schedule.spec.labels)
    labels[SCHEDULE_LABEL] = schedule.name
    return replace(schedule.spec, labels=tuple(sorted(labels.items())))


def warn_of_packages_without_template(
    schedules: ScheduleStore, *, say_unreadable: bool = True
) -> bool:
    """Log one WARNING per stored GDPR package schedule that names no template, by its
    name (the id GetSchedule and `sluice schedule` take), never its subject or any other
    value of its spec. Created before a package took the `gdpr` template by default,
    such a schedule runs as stored, so without it (unencrypted unless its spec
    encrypts): it is named, not changed, since sealing it now would change what its
    recipients get and fail every tick on a server without the gdpr secret. Whether the
    schedules could be read (False: the store is unavailable, ask again later; said in a
    WARNING only when `say_unreadable`: a later pass's own ERROR says it again)."""
    try:
        stored = schedules.list_schedules()
    except SluiceError as exc:
        if not say_unreadable:
            return False
        _log.warning(
            "schedules: cannot check for GDPR packages stored without a template yet (%s);"
            " checking again on the next pass",
            exc.message,
        )
        return False
    for schedule in stored:
        if schedule.spec.subject is not None and not schedule.spec.template:
            _log.warning(
                "schedule %s: a GDPR subject package stored without a template (before"
                " packages took the gdpr template by default) runs as stored, without it:"
                " unencrypted unless its spec encrypts; create it again to have it sealed",
                schedule.name,
            )
    return True


class Scheduler:
    """Runs due ticks (`run_due`), by hand (`trigger`), or in a thread (`start`)."""

    def __init__(
        self,
        schedules: ScheduleStore,
        jobs: JobStore,
        start_export: StartExport,
        *,
        clock: Clock = utc_now,
        start_deadline: timedelta = timedelta(minutes=5),
        poll_seconds: float = 10.0,
    ) -> None:
        """`start_deadline`: how late a tick may still start under catch_up "skip"."""
        self._schedules = schedules
        self._jobs = jobs
        self._start_export = start_export
        self._clock = clock
        self._deadline = start_deadline
        self._poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Whether the stored schedules were checked for packages without a template.
        self._checked_templates = False

    # -- one pass -------------------------------------------------------------------

    def run_due(self) -> list[Job]:
        """Handle every schedule whose next tick has come; the exports created."""
        now = self._clock()
        started: list[Job] = []
        for schedule in self._schedules.list_schedules():
            if schedule.paused or schedule.next_tick is None or schedule.next_tick > now:
                continue
            try:
                job = self._run_tick(schedule, now)
            except SluiceError as exc:
                # The store failed (Unavailable): the tick stays due for the next pass.
                _log.warning("schedule %s: tick not recorded: %s", schedule.name, exc.message)
                continue
            except POLARS_FAILURES as exc:  # one schedule, not the whole pass (a tick
                # plans its export, running Polars on the source: a panic is no Exception)
                # One broken schedule must not keep the others from ticking.
                _log.error("schedule %s: tick failed: %s", schedule.name, type(exc).__name__)
                continue
            if job is not None:
                started.append(job)
        return started

    def trigger(self, name: str) -> Job:
        """Start the schedule's export now, outside its cron (policies as for a tick:
        under "forbid" FailedPrecondition while its last export is unfinished, and to
        all but one of triggers racing each other or a tick)."""
        schedule = self._schedules.get_schedule(name)
        if schedule.concurrency != "forbid":
            moment = self._clock().astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
            request_id = f"schedule/{name}/{schedule.uid}/manual-{moment}"
            job = self._start_export(scheduled_spec(schedule), request_id)
            self._schedules.record_trigger(name, job.id)
            return job
        running = self._unfinished_export(schedule)
        if running:
            raise _forbidden(name, running, "is unfinished")
        moment = self._clock().astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        fallback = f"schedule/{name}/{schedule.uid}/manual-{moment}"
        try:
            job, last = self._start_next(schedule, fallback)
        except _MovedMeanwhile:
            raise _forbidden(
                name, self._schedules.get_schedule(name).last_export_id, "started"
            ) from None
        if self._schedules.record_trigger(name, job.id, replacing=last) is None:
            # Another trigger (the same export) or a tick recorded the export first.
            raise _forbidden(name, self._schedules.get_schedule(name).last_export_id, "started")
        return job

    def _run_tick(self, schedule: Schedule, now: datetime) -> Job | None:
        assert schedule.next_tick is not None
        times = CronTimes.parse(schedule.cron, schedule.timezone)
        due = schedule.next_tick
        latest = times.latest_at_or_before(now, after=due - _INSTANT) or due
        next_tick = times.next_after(now)
        # Ticks before the latest are never run (no burst); they count as skipped.
        earlier = times.count_from(due, latest, most=_MAX_COUNTED_TICKS)
        record = TickRecord(next_tick=next_tick, skipped=earlier)
        if earlier:
            previous = times.latest_at_or_before(latest - _INSTANT, after=due - _INSTANT)
            record = replace(record, skipped_tick=previous)
        count = earlier + 1
        if schedule.catch_up == "skip" and now - latest > self._deadline:
            # Missed while no scheduler ran: wait for the next tick.
            record = replace(record, skipped=count, skipped_tick=latest)
            return self._record(schedule, due, record, None)
        running = self._unfinished_export(schedule)
        if schedule.concurrency == "forbid" and running:
            _log.info(
                "schedule %s: tick %s skipped, export %s unfinished",
                schedule.name,
                latest.isoformat(),
                running,
            )
            record = replace(record, skipped=count, skipped_tick=latest)
            return self._record(schedule, due, record, None)
        try:
            if schedule.concurrency == "forbid":
                job, last = self._start_next(schedule, tick_request_id(schedule, latest))
                record = replace(record, replacing=last)
            else:
                job = self._start_export(
                    scheduled_spec(schedule), tick_request_id(schedule, latest)
                )
        except _MovedMeanwhile:
            return None  # a trigger or another scheduler went first: the tick stays due
        except SluiceError as exc:
            if exc.transient:
                raise  # the store or storage may come back: the tick stays due
            # The spec no longer plans (source gone, bad profile): record why and move on,
            # rather than retrying the same failure every pass.
            record = replace(record, tick=latest, error=exc.message)
            return self._record(schedule, due, record, None)
        record = replace(record, tick=latest, export_id=job.id)
        return self._record(schedule, due, record, job)

    def _start_next(self, schedule: Schedule, fallback_id: str) -> tuple[Job, str]:
        """Under "forbid": the export after the schedule's last one, and the last export
        id it follows (to record it by compare-and-set from). The "after X" id may return
        an export that already finished: one created whose record was lost (the store
        failed, or the schedule was paused, between create and record). It is recorded
        (compare-and-set from X) and the export after it is created, once. An "after X"
        id taken by another export request (only possible before the schedule/ prefix
        was reserved) falls back to `fallback_id` rather than failing every tick."""
        spec = scheduled_spec(schedule)
        last = schedule.last_export_id
        for attempt in range(2):
            try:
                job = self._start_export(spec, next_export_request_id(schedule, after=last))
            except RequestIdInUse:
                _log.warning(
                    "schedule %s: the request id of the export after %s is taken by another"
                    " export request; starting this one by %s",
                    schedule.name,
                    last or "none",
                    fallback_id,
                )
                return self._start_export(spec, fallback_id), last
            if job.state in UNFINISHED_STATES or job.id == last or attempt == 1:
                return job, last
            # An old finished export never recorded: note it, then start the next one.
            if self._schedules.record_trigger(schedule.name, job.id, replacing=last) is None:
                raise _MovedMeanwhile()
            _log.info(
                "schedule %s: recorded export %s (created, not recorded before)",
                schedule.name,
                job.id,
            )
            last = job.id
        raise AssertionError("unreachable")

    def _record(
        self, schedule: Schedule, due: datetime, record: TickRecord, job: Job | None
    ) -> Job | None:
        if not self._schedules.record_tick(schedule.name, due, record):
            return None  # another scheduler recorded this tick (with the same export)
        if job is not None:
            _log.info("schedule %s: tick %s started export %s", schedule.name, record.tick, job.id)
        return job

    def _unfinished_export(self, schedule: Schedule) -> str:
        if not schedule.last_export_id:
            return ""
        try:
            job = self._jobs.get(schedule.last_export_id)
        except NotFound:
            return ""
        return job.id if job.state in UNFINISHED_STATES else ""

    # -- in the daemon ---------------------------------------------------------------

    def start(self) -> None:
        self._checked_templates = warn_of_packages_without_template(self._schedules)
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if not self._checked_templates:
                    # Said once, at start: each pass failing meanwhile logs its ERROR.
                    self._checked_templates = warn_of_packages_without_template(
                        self._schedules, say_unreadable=False
                    )
                self.run_due()
            except POLARS_FAILURES as exc:  # the loop must outlive any one pass
                _log.error("scheduler pass failed: %s", type(exc).__name__)
            self._stop.wait(self._poll_seconds)


def _forbidden(name: str, export_id: str, what: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"schedule '{name}' forbids concurrent runs and export {export_id} {what}"
    )
