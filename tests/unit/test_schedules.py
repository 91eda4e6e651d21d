"""Schedules: the store contract (SQLite and PostgreSQL), cron times across daylight-saving
changes, and the scheduler's policies with a clock the tests move.

The scheduler creates exports through the job store's idempotent create (the same one
CreateExport uses); the exports do not run here: tests move their state by hand.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sluice.server.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from sluice.server.jobs import Job, JobFilter, JobState, JobStore, NewJob, SQLiteJobStore
from sluice.server.jobs.increment_chains import check_one_increment
from sluice.server.jobs.postgres import PostgresJobStore
from sluice.server.jobs.schedules import Schedule, TickRecord
from sluice.server.planning.spec import (
    DestinationSpec,
    ExportSpec,
    IncrementalSpec,
    SourceSpec,
    SubjectSpec,
)
from sluice.server.principals import ANONYMOUS, Principal, Scope
from sluice.server.service.cron_times import CronTimes
from sluice.server.service.personal_values import HIDDEN_ERROR
from sluice.server.service.schedule_service import NewSchedule, ScheduleService
from sluice.server.service.scheduler import SCHEDULE_LABEL, Scheduler, tick_request_id
from tests.servers.postgres import PostgresServer

MADRID = "Europe/Madrid"
SPEC = ExportSpec(
    source=SourceSpec(uri="file:///data/orders.parquet"),
    destination=DestinationSpec(uri="file:///exports", dataset="orders"),
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Daemon:
    """One scheduler (and its schedule service) on a store, as a daemon would run it."""

    store: JobStore
    clock: Clock
    scheduler: Scheduler = field(init=False)
    service: ScheduleService = field(init=False)

    def __post_init__(self) -> None:
        self.scheduler = Scheduler(
            self.store,
            self.store,
            self.start_export,
            clock=self.clock,
            start_deadline=timedelta(minutes=5),
        )
        self.service = ScheduleService(
            self.store, self.store, self.scheduler, lambda spec: None, self.clock
        )

    def start_export(self, spec: ExportSpec, request_id: str) -> Job:
        # CreateExport's idempotency, as ExportService.create relies on it.
        job, _ = self.store.create(
            NewJob(f"job-{secrets.token_hex(6)}", spec, request_id, spec.fingerprint())
        )
        return job

    def exports(self) -> list[Job]:
        return list(self.store.list(JobFilter(), page_size=500).jobs)


@pytest.fixture(params=["sqlite", "postgresql"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], JobStore]]:
    """Opens stores on one database: several are several daemons sharing it."""
    opened: list[JobStore] = []
    if request.param == "sqlite":

        def open_one() -> JobStore:
            opened.append(SQLiteJobStore(tmp_path / "jobs.sqlite3"))
            return opened[-1]
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.new_database()

        def open_one() -> JobStore:
            opened.append(PostgresJobStore(url))
            return opened[-1]

    yield open_one
    for store in opened:
        store.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(utc(2026, 3, 1, 12, 0, 0))


@pytest.fixture
def daemon(open_store: Callable[[], JobStore], clock: Clock) -> Daemon:
    return Daemon(open_store(), clock)


def every_minute(daemon: Daemon, name: str = "minutely", **policies: str) -> Schedule:
    return daemon.service.create(
        NewSchedule(name=name, spec=SPEC, cron="* * * * *", **policies), principal=ANONYMOUS
    ).schedule


def started_by_tick(daemon: Daemon, name: str, job: Job) -> datetime | None:
    """The tick the schedule recorded `job` for (under "forbid" the request id names the
    export it follows, not the tick)."""
    schedule = daemon.store.get_schedule(name)
    return schedule.last_tick if schedule.last_export_id == job.id else None


def finish(daemon: Daemon, job_id: str) -> None:
    daemon.store.transition(job_id, {JobState.QUEUED}, JobState.RUNNING)
    daemon.store.transition(job_id, {JobState.RUNNING}, JobState.SUCCEEDED)


# -- the store ------------------------------------------------------------------------


def test_store_keeps_a_schedule_and_advances_it_by_compare_and_set(daemon: Daemon) -> None:
    store = daemon.store
    created = store.create_schedule(
        Schedule(
            name="nightly",
            spec=SPEC,
            cron="0 2 * * *",
            timezone=MADRID,
            uid="u1",
            next_tick=utc(2026, 3, 2, 1),
        )
    )
    assert created.created_at is not None and created.spec == SPEC
    assert created.next_tick == utc(2026, 3, 2, 1)
    with pytest.raises(AlreadyExists):
        store.create_schedule(created)
    record = TickRecord(next_tick=utc(2026, 3, 3, 1), tick=utc(2026, 3, 2, 1), export_id="e1")
    assert store.record_tick("nightly", utc(2026, 3, 2, 1), record)
    # A second scheduler with the same stale view changes nothing.
    assert not store.record_tick("nightly", utc(2026, 3, 2, 1), record)
    got = store.get_schedule("nightly")
    assert (got.next_tick, got.last_tick, got.last_export_id) == (
        utc(2026, 3, 3, 1),
        utc(2026, 3, 2, 1),
        "e1",
    )
    skip = TickRecord(next_tick=utc(2026, 3, 4, 1), skipped=2, skipped_tick=utc(2026, 3, 3, 1))
    assert store.record_tick("nightly", utc(2026, 3, 3, 1), skip)
    got = store.get_schedule("nightly")
    assert (got.skipped_ticks, got.last_skipped_tick, got.last_export_id) == (
        2,
        utc(2026, 3, 3, 1),
        "e1",
    )
    paused = store.set_schedule_paused("nightly", True, None)
    assert paused.paused and paused.next_tick is None
    assert store.record_trigger("nightly", "e2").last_export_id == "e2"
    assert [s.name for s in store.list_schedules()] == ["nightly"]
    store.delete_schedule("nightly")
    with pytest.raises(NotFound):
        store.get_schedule("nightly")
    with pytest.raises(NotFound):
        store.delete_schedule("nightly")


# -- cron times -----------------------------------------------------------------------


def ticks(cron: str, zone: str, start: datetime, count: int) -> list[datetime]:
    times = CronTimes.parse(cron, zone)
    found, at = [], start
    for _ in range(count):
        at = times.next_after(at)
        found.append(at)
    return found


def test_a_nightly_tick_in_madrid_across_both_daylight_saving_changes() -> None:
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist that night.
    spring = ticks("30 2 * * *", MADRID, utc(2026, 3, 27, 12), 4)
    assert spring == [
        utc(2026, 3, 28, 1, 30),  # 02:30 CET
        utc(2026, 3, 29, 1, 0),  # the clocks jump: runs at 03:00 CEST
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
        utc(2026, 3, 31, 0, 30),
    ]
    # 2026-10-25: 03:00 CEST falls back to 02:00 CET, so 02:30 happens twice: once here.
    autumn = ticks("30 2 * * *", MADRID, utc(2026, 10, 23, 12), 3)
    assert autumn == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]
    # The local wall time stays 02:30 on both sides.
    zone = CronTimes.parse("@daily", MADRID).zone
    assert {t.astimezone(zone).strftime("%H:%M") for t in autumn} == {"02:30"}


def test_hourly_ticks_through_the_fall_back_hour_never_repeat_or_go_back() -> None:
    found = ticks("0 * * * *", MADRID, utc(2026, 10, 24, 22), 6)
    assert found == sorted(set(found))
    assert all(b - a >= timedelta(hours=1) for a, b in itertools.pairwise(found))


def test_aliases_and_utc_default() -> None:
    assert ticks("@daily", "", utc(2026, 3, 1, 12), 1) == [utc(2026, 3, 2)]
    assert ticks("@weekly", "UTC", utc(2026, 3, 1, 12), 1) == [utc(2026, 3, 8)]  # a Sunday
    assert ticks("@monthly", "UTC", utc(2026, 3, 1, 12), 1) == [utc(2026, 4, 1)]


@pytest.mark.parametrize(
    ("cron", "zone", "field_name"),
    [
        ("", "UTC", "cron"),
        ("0 2 * *", "UTC", "cron"),
        ("61 2 * * *", "UTC", "cron"),
        ("0 2 * * * *", "UTC", "cron"),
        ("0 0 30 2 *", "UTC", "cron"),  # never fires
        ("@fortnightly", "UTC", "cron"),
        ("0 2 * * *", "Europe/Atlantis", "timezone"),
        ("0 2 * * *", "../../etc/passwd", "timezone"),
    ],
)
def test_bad_cron_or_zone_names_the_field(cron: str, zone: str, field_name: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        CronTimes.parse(cron, zone)
    assert caught.value.violations[0].field == field_name


@pytest.mark.parametrize(
    "zone", ["localtime", "posixrules", "Factory", "right/UTC", "posix/Europe/Madrid"]
)
def test_a_zone_that_is_no_place_is_refused_at_create_yet_a_stored_one_keeps_running(
    daemon: Daemon, clock: Clock, zone: str
) -> None:
    """'localtime' follows the daemon's host, 'right/UTC' counts leap seconds: ZoneInfo
    loads them, so they were accepted. Refused at create; one stored before still ticks."""
    with pytest.raises(InvalidArgument) as caught:
        daemon.service.create(
            NewSchedule(name="nightly", spec=SPEC, cron="* * * * *", timezone=zone),
            principal=ANONYMOUS,
        )
    assert [v.field for v in caught.value.violations] == ["timezone"]
    assert daemon.store.list_schedules() == []
    stored = every_minute(daemon, "legacy", timezone="EST5EDT")  # legacy, yet IANA's
    daemon.store.delete_schedule(stored.name)
    daemon.store.create_schedule(replace(stored, timezone=zone))
    clock.advance(minutes=2)
    assert len(daemon.scheduler.run_due()) == 1


# -- the scheduler -----------------------------------------------------------------------


def test_each_daily_tick_across_the_spring_change_creates_one_export(
    daemon: Daemon, clock: Clock
) -> None:
    clock.now = utc(2026, 3, 27, 12)
    daemon.service.create(
        NewSchedule(name="nightly", spec=SPEC, cron="30 2 * * *", timezone=MADRID),
        principal=ANONYMOUS,
    )
    started: list[Job] = []
    ticks: list[datetime | None] = []
    for _ in range(4 * 24 * 4):  # four days, every 15 minutes
        clock.advance(minutes=15)
        for job in daemon.scheduler.run_due():
            started.append(job)
            ticks.append(started_by_tick(daemon, "nightly", job))
        for job in started:
            if daemon.store.get(job.id).state is JobState.QUEUED:
                finish(daemon, job.id)
    schedule = daemon.store.get_schedule("nightly")
    expected = [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1), utc(2026, 3, 30, 0, 30)]
    expected.append(utc(2026, 3, 31, 0, 30))
    assert ticks == expected
    assert len({job.request_id for job in started}) == len(expected)
    assert all(dict(job.spec.labels)[SCHEDULE_LABEL] == "nightly" for job in started)
    assert schedule.skipped_ticks == 0 and schedule.last_tick == expected[-1]


def test_forbid_skips_and_records_a_tick_while_the_previous_export_runs(
    daemon: Daemon, clock: Clock
) -> None:
    every_minute(daemon)
    clock.advance(minutes=1)
    (first,) = daemon.scheduler.run_due()
    clock.advance(minutes=1)
    assert daemon.scheduler.run_due() == []  # the first export is still queued
    skipped = daemon.store.get_schedule("minutely")
    assert skipped.skipped_ticks == 1 and skipped.last_skipped_tick == clock.now.replace(second=0)
    assert skipped.last_export_id == first.id
    finish(daemon, first.id)
    clock.advance(minutes=1)
    (second,) = daemon.scheduler.run_due()
    assert second.id != first.id and len(daemon.exports()) == 2
    # Under forbid an export is named by the one it follows (ticks and triggers alike).
    uid = skipped.uid
    assert first.request_id == f"schedule/minutely/{uid}/after-none"
    assert second.request_id == f"schedule/minutely/{uid}/after-{first.id}"


def test_allow_runs_a_tick_while_the_previous_export_runs(daemon: Daemon, clock: Clock) -> None:
    schedule = every_minute(daemon, concurrency="allow")
    for _ in range(3):
        clock.advance(minutes=1)
        daemon.scheduler.run_due()
    assert len(daemon.exports()) == 3
    # One export per tick, named by it.
    assert sorted(job.request_id for job in daemon.exports()) == [
        tick_request_id(schedule, utc(2026, 3, 1, 12, minute)) for minute in (1, 2, 3)
    ]
    assert daemon.store.get_schedule("minutely").skipped_ticks == 0


def hourly(daemon: Daemon, **policies: str) -> Schedule:
    return daemon.service.create(
        NewSchedule(name="hourly", spec=SPEC, cron="@hourly", **policies), principal=ANONYMOUS
    ).schedule


def test_catch_up_latest_after_three_missed_ticks_is_one_run(daemon: Daemon, clock: Clock) -> None:
    hourly(daemon, catch_up="latest")
    clock.advance(hours=3, minutes=30)  # 13:00, 14:00 and 15:00 missed: no daemon ran
    (job,) = daemon.scheduler.run_due()
    schedule = daemon.store.get_schedule("hourly")
    latest = utc(2026, 3, 1, 15)
    assert schedule.last_export_id == job.id
    assert schedule.last_tick == latest and schedule.skipped_ticks == 2
    assert schedule.last_skipped_tick == utc(2026, 3, 1, 14)
    assert schedule.next_tick == utc(2026, 3, 1, 16)
    assert daemon.scheduler.run_due() == [] and len(daemon.exports()) == 1


def test_catch_up_skip_after_three_missed_ticks_runs_nothing_until_the_next_tick(
    daemon: Daemon, clock: Clock
) -> None:
    hourly(daemon, catch_up="skip")
    clock.advance(hours=3, minutes=30)  # the latest missed tick is past the 5-minute deadline
    assert daemon.scheduler.run_due() == []
    schedule = daemon.store.get_schedule("hourly")
    assert schedule.skipped_ticks == 3 and schedule.last_skipped_tick == utc(2026, 3, 1, 15)
    assert schedule.next_tick == utc(2026, 3, 1, 16) and schedule.last_tick is None
    clock.advance(minutes=31)
    (job,) = daemon.scheduler.run_due()
    assert started_by_tick(daemon, "hourly", job) == utc(2026, 3, 1, 16)


def test_a_tick_late_within_the_deadline_still_runs_under_skip(
    daemon: Daemon, clock: Clock
) -> None:
    daemon.service.create(
        NewSchedule(name="hourly", spec=SPEC, cron="@hourly"), principal=ANONYMOUS
    )
    clock.advance(hours=1, minutes=2)  # the 13:00 tick, two minutes late
    (job,) = daemon.scheduler.run_due()
    assert started_by_tick(daemon, "hourly", job) == utc(2026, 3, 1, 13)


@pytest.mark.parametrize("replicas", [2, 3])
def test_several_schedulers_on_one_store_create_one_export_per_tick(
    open_store: Callable[[], JobStore], clock: Clock, replicas: int
) -> None:
    """Daemons sharing a store (a second daemon on one PostgreSQL store is refused at
    start until leases land, so the schedulers run here side by side, each on its own
    store connection, racing on every tick)."""
    daemons = [Daemon(open_store(), clock) for _ in range(replicas)]
    every_minute(daemons[0], concurrency="allow")
    for _ in range(5):
        clock.advance(minutes=1)
        barrier = threading.Barrier(replicas)

        def run(daemon: Daemon, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            daemon.scheduler.run_due()

        threads = [threading.Thread(target=run, args=(d,)) for d in daemons]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    exports = daemons[0].exports()
    assert len(exports) == 5
    assert len({job.request_id for job in exports}) == 5
    schedule = daemons[-1].store.get_schedule("minutely")
    assert schedule.last_tick == utc(2026, 3, 1, 12, 5)
    assert schedule.skipped_ticks == 0


def test_a_tick_whose_spec_no_longer_plans_is_recorded_and_the_next_one_runs(
    daemon: Daemon, clock: Clock
) -> None:
    hourly(daemon)
    broken = True

    def start(spec: ExportSpec, request_id: str) -> Job:
        if broken:
            raise InvalidArgument("spec.source.uri", "no file matches")
        return daemon.start_export(spec, request_id)

    scheduler = Scheduler(daemon.store, daemon.store, start, clock=clock)
    clock.advance(hours=1)
    assert scheduler.run_due() == []
    failed = daemon.store.get_schedule("hourly")
    assert failed.last_error == "spec.source.uri: no file matches"
    assert failed.last_tick == utc(2026, 3, 1, 13) and failed.last_export_id == ""
    assert failed.next_tick == utc(2026, 3, 1, 14)
    broken = False
    clock.advance(hours=1)
    (job,) = scheduler.run_due()
    assert daemon.store.get_schedule("hourly").last_error == ""
    assert started_by_tick(daemon, "hourly", job) == utc(2026, 3, 1, 14)


def test_a_tick_refused_by_an_unfinished_increment_of_its_chain_records_why(
    daemon: Daemon, clock: Clock
) -> None:
    """An incremental schedule whose chain has another increment unfinished (created by
    hand, or by another schedule spelling the destination otherwise): CreateExport's
    one-increment check refuses the tick, which is recorded as the tick's error (not
    retried every pass, not a crash of the pass); the next tick runs once it ended."""
    spec = replace(SPEC, incremental=IncrementalSpec(mode="incremental", key=("id",)))
    manual, _ = daemon.store.create(NewJob("job-by-hand", replace(spec, destination=DestinationSpec(
        uri="/exports/", dataset="orders")), "", ""))  # fmt: skip

    def start(asked: ExportSpec, request_id: str) -> Job:
        check_one_increment(daemon.store, asked, "")  # as ExportService.create does
        return daemon.start_export(asked, request_id)

    scheduler = Scheduler(daemon.store, daemon.store, start, clock=clock)
    daemon.service.create(NewSchedule(name="sync", spec=spec, cron="@hourly"), principal=ANONYMOUS)
    clock.advance(hours=1)
    assert scheduler.run_due() == []
    refused = daemon.store.get_schedule("sync")
    assert "export job-by-hand, an increment of dataset 'orders'" in refused.last_error
    assert refused.last_tick == utc(2026, 3, 1, 13) and refused.last_export_id == ""
    assert refused.next_tick == utc(2026, 3, 1, 14)
    finish(daemon, manual.id)
    clock.advance(hours=1)
    (job,) = scheduler.run_due()
    assert daemon.store.get_schedule("sync").last_error == ""
    assert started_by_tick(daemon, "sync", job) == utc(2026, 3, 1, 14)


def test_a_reader_sees_the_last_error_without_the_values_it_quotes(
    daemon: Daemon, clock: Clock
) -> None:
    """A tick's planning error can repeat the spec's literals (the temporal hint quotes
    the where), which a reader without admin is not shown in the spec: it gets the field
    and a sentence; an admin the whole error."""
    hourly(daemon)
    quoting = (
        "spec.query.where: write dates and times as typed literals, e.g. dob >= DATE "
        "'1990-04-01' ('1990-04-01' in quotes is text)"
    )

    def start(spec: ExportSpec, request_id: str) -> Job:
        raise InvalidArgument("spec.query.where", quoting.removeprefix("spec.query.where: "))

    clock.advance(hours=1)
    assert Scheduler(daemon.store, daemon.store, start, clock=clock).run_due() == []
    assert daemon.service.get("hourly", principal=ANONYMOUS).schedule.last_error == quoting
    reader = Principal("reader", frozenset({Scope.READ}))
    for shown in (
        daemon.service.get("hourly", principal=reader).schedule,
        *(view.schedule for view in daemon.service.list(principal=reader)),
    ):
        assert shown.last_error == f"spec.query.where: {HIDDEN_ERROR}"


def test_a_tick_that_meets_an_unavailable_store_stays_due(daemon: Daemon, clock: Clock) -> None:
    hourly(daemon)

    def start(spec: ExportSpec, request_id: str) -> Job:
        raise Unavailable("job store unavailable: connection refused")

    clock.advance(hours=1)
    assert Scheduler(daemon.store, daemon.store, start, clock=clock).run_due() == []
    assert daemon.store.get_schedule("hourly").next_tick == utc(2026, 3, 1, 13)
    (job,) = daemon.scheduler.run_due()  # the store is back
    assert started_by_tick(daemon, "hourly", job) == utc(2026, 3, 1, 13)


def test_a_schedule_created_again_under_its_name_starts_new_exports(
    daemon: Daemon, clock: Clock
) -> None:
    hourly(daemon)
    clock.advance(hours=1)
    (first,) = daemon.scheduler.run_due()
    daemon.service.delete("hourly", principal=ANONYMOUS)
    clock.now = utc(2026, 3, 1, 12)
    other = ExportSpec(
        source=SourceSpec(uri="file:///data/other.parquet"), destination=SPEC.destination
    )
    daemon.service.create(
        NewSchedule(name="hourly", spec=other, cron="@hourly"), principal=ANONYMOUS
    )
    clock.advance(hours=1)
    (second,) = daemon.scheduler.run_due()  # the same tick time: a new request id
    assert second.id != first.id and second.spec.source == other.source
    assert daemon.store.get(first.id).spec.source == SPEC.source


def test_trigger_creates_an_export_now_and_forbid_refuses_a_second(
    daemon: Daemon, clock: Clock
) -> None:
    every_minute(daemon)
    job = daemon.service.trigger("minutely", principal=ANONYMOUS)
    assert daemon.service.get("minutely", principal=ANONYMOUS).schedule.last_export_id == job.id
    assert daemon.service.get("minutely", principal=ANONYMOUS).last_export_state is JobState.QUEUED
    with pytest.raises(FailedPrecondition, match="forbids concurrent runs"):
        daemon.service.trigger("minutely", principal=ANONYMOUS)
    with pytest.raises(NotFound):
        daemon.service.trigger("nothing-here", principal=ANONYMOUS)


@dataclass
class RacingDaemon(Daemon):
    """A daemon whose exports are created only once every racer has passed the
    scheduler's checks: the window in which replicas triggering at once all see the
    schedule's last export ended."""

    barrier: threading.Barrier | None = None

    def start_export(self, spec: ExportSpec, request_id: str) -> Job:
        assert self.barrier is not None
        self.barrier.wait()
        return super().start_export(spec, request_id)


def _race(calls: list[Callable[[], object]]) -> list[object]:
    """Run the calls in threads at once; each one's result or exception."""
    results: list[object] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception as exc:  # the test looks at it
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("replicas", [2, 3])
def test_triggers_racing_on_a_forbid_schedule_start_one_export(
    open_store: Callable[[], JobStore], clock: Clock, replicas: int
) -> None:
    barrier = threading.Barrier(replicas, timeout=30)
    daemons = [RacingDaemon(open_store(), clock, barrier) for _ in range(replicas)]
    every_minute(daemons[0])
    for round_ in range(2):
        results = _race(
            [lambda d=d: d.service.trigger("minutely", principal=ANONYMOUS) for d in daemons]
        )
        started = [r for r in results if isinstance(r, Job)]
        refused = [r for r in results if isinstance(r, FailedPrecondition)]
        assert len(started) == 1 and len(refused) == replicas - 1, results
        assert all("forbids concurrent runs" in r.message for r in refused)
        assert len(daemons[0].exports()) == round_ + 1
        schedule = daemons[0].store.get_schedule("minutely")
        assert schedule.last_export_id == started[0].id
        finish(daemons[0], started[0].id)


def test_a_trigger_racing_a_tick_on_a_forbid_schedule_is_one_export(
    open_store: Callable[[], JobStore], clock: Clock
) -> None:
    barrier = threading.Barrier(2, timeout=30)
    ticking, triggering = (RacingDaemon(open_store(), clock, barrier) for _ in range(2))
    every_minute(ticking)
    clock.advance(minutes=1)
    ticked, triggered = _race(
        [
            ticking.scheduler.run_due,
            lambda: triggering.service.trigger("minutely", principal=ANONYMOUS),
        ]
    )
    (export,) = ticking.exports()
    assert ticked == [export]
    assert triggered == export or isinstance(triggered, FailedPrecondition), triggered
    schedule = ticking.store.get_schedule("minutely")
    assert schedule.last_export_id == export.id and schedule.last_tick == clock.now.replace(
        second=0
    )


def test_a_forbid_schedule_whose_next_request_id_is_taken_keeps_ticking(
    daemon: Daemon, clock: Clock
) -> None:
    # Taken before the schedule/ prefix was reserved for the server (CreateExport now
    # refuses it): every tick failed RequestIdInUse, for good.
    schedule = every_minute(daemon)
    other = replace(SPEC, destination=replace(SPEC.destination, dataset="mallory"))
    squat = f"schedule/{schedule.name}/{schedule.uid}/after-none"
    daemon.store.create(NewJob("job-squat", other, squat, other.fingerprint()))
    for _ in range(2):
        clock.advance(minutes=1)
        (started,) = daemon.scheduler.run_due()
        assert started.id != "job-squat"
        assert daemon.store.get_schedule("minutely").last_export_id == started.id
        finish(daemon, started.id)
    assert daemon.store.get_schedule("minutely").last_error == ""


def test_an_export_created_but_never_recorded_is_recorded_and_the_next_one_runs(
    daemon: Daemon, clock: Clock
) -> None:
    # The schedule paused (or the store failed) between a tick's create and its record:
    # the next tick's "after none" got that old, finished export back and started nothing.
    schedule = every_minute(daemon)
    create = daemon.scheduler._start_export

    def pausing(spec: ExportSpec, request_id: str) -> Job:
        job = create(spec, request_id)
        daemon.service.pause(schedule.name, ANONYMOUS)
        return job

    daemon.scheduler._start_export = pausing
    clock.advance(minutes=1)
    assert daemon.scheduler.run_due() == []
    daemon.scheduler._start_export = create
    (lost,) = daemon.exports()
    finish(daemon, lost.id)
    daemon.service.resume(schedule.name, ANONYMOUS)
    clock.advance(hours=5)
    (started,) = daemon.scheduler.run_due()
    assert started.id != lost.id and started.state is JobState.QUEUED
    assert len(daemon.exports()) == 2
    assert daemon.store.get_schedule("minutely").last_export_id == started.id
    # The same for a trigger whose record failed.
    finish(daemon, started.id)
    daemon.store.record_trigger("minutely", lost.id)  # as if started's record was lost
    triggered = daemon.service.trigger("minutely", principal=ANONYMOUS)
    assert triggered.id not in (lost.id, started.id) and len(daemon.exports()) == 3


def test_a_stale_tick_record_does_not_move_the_last_export_back(daemon: Daemon) -> None:
    schedule = every_minute(daemon)
    due = daemon.store.get_schedule(schedule.name).next_tick
    assert due is not None
    daemon.store.record_trigger(schedule.name, "job-later")
    stale = TickRecord(next_tick=due + timedelta(minutes=1), tick=due, export_id="job-old")
    assert daemon.store.record_tick(schedule.name, due, replace(stale, replacing=""))
    assert daemon.store.get_schedule(schedule.name).last_export_id == "job-later"


def test_paused_schedules_do_not_tick_and_resume_does_not_burst(
    daemon: Daemon, clock: Clock
) -> None:
    every_minute(daemon, catch_up="latest")
    assert daemon.service.pause("minutely", principal=ANONYMOUS).schedule.next_tick is None
    clock.advance(minutes=30)
    assert daemon.scheduler.run_due() == []
    resumed = daemon.service.resume("minutely", principal=ANONYMOUS).schedule
    assert not resumed.paused and resumed.next_tick == utc(2026, 3, 1, 12, 31)
    assert daemon.scheduler.run_due() == []
    clock.advance(minutes=1)
    assert len(daemon.scheduler.run_due()) == 1


@pytest.mark.parametrize(
    ("changes", "field_name"),
    [
        ({"name": "Nightly"}, "name"),
        ({"name": "-nightly"}, "name"),
        ({"name": "x" * 64}, "name"),
        ({"name": ""}, "name"),
        ({"cron": "every night"}, "cron"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"concurrency": "sometimes"}, "concurrency"),
        ({"catch_up": "all"}, "catch_up"),
    ],
)
def test_create_names_the_bad_field(
    daemon: Daemon, changes: dict[str, str], field_name: str
) -> None:
    values: dict[str, object] = {"name": "nightly", "spec": SPEC, "cron": "0 2 * * *"}
    values.update(changes)
    with pytest.raises(InvalidArgument) as caught:
        daemon.service.create(NewSchedule(**values), principal=ANONYMOUS)  # type: ignore[arg-type]
    assert caught.value.violations[0].field == field_name
    assert daemon.store.list_schedules() == []


def test_an_incremental_schedule_must_forbid_overlapping_runs(daemon: Daemon) -> None:
    spec = ExportSpec(
        source=SPEC.source,
        destination=SPEC.destination,
        incremental=IncrementalSpec(mode="incremental", cursor="updated_at"),
    )
    with pytest.raises(InvalidArgument) as caught:
        daemon.service.create(
            NewSchedule(name="sync", spec=spec, cron="@daily", concurrency="allow"),
            principal=ANONYMOUS,
        )
    assert caught.value.violations[0].field == "concurrency"
    created = daemon.service.create(
        NewSchedule(name="sync", spec=spec, cron="@daily"), principal=ANONYMOUS
    )
    assert created.schedule.concurrency == "forbid"
    assert created.schedule.spec.incremental.mode == "incremental"


def test_a_scheduled_package_naming_no_template_takes_gdpr_as_create_export_would(
    daemon: Daemon,
) -> None:
    """Stored (and checked) with the template each tick's export will take, so a
    schedule cannot be created that no tick can run, nor be shown without it."""
    package = ExportSpec(
        source=SourceSpec(uri=""),
        destination=SPEC.destination,
        subject=SubjectSpec("42", ("events",)),
    )
    created = daemon.service.create(
        NewSchedule(name="dsar", spec=package, cron="@daily"), principal=ANONYMOUS
    )
    assert created.schedule.spec.template == "gdpr"
    assert daemon.store.get_schedule("dsar").spec.template == "gdpr"
    named = replace(package, template="unsealed")
    daemon.service.create(NewSchedule(name="named", spec=named, cron="@daily"), principal=ANONYMOUS)
    assert daemon.store.get_schedule("named").spec.template == "unsealed"
