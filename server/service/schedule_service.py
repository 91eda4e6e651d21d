"""Schedules' domain API behind the gRPC servicer: create (every field checked before
anything is stored), list, get, pause, resume, delete and trigger."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Final

from sluice.server.errors import InvalidArgument, NotFound, quoted
from sluice.server.jobs.model import Job, JobState
from sluice.server.jobs.schedules import (
    CATCH_UP_POLICIES,
    CONCURRENCY_POLICIES,
    Schedule,
    ScheduleStore,
)
from sluice.server.jobs.store import JobStore
from sluice.server.planning.authorization import may_see, require_scope
from sluice.server.planning.spec import ExportSpec
from sluice.server.planning.template_plan import with_default_template
from sluice.server.principals import Principal, Scope
from sluice.server.service.cron_times import CronTimes, check_new_timezone
from sluice.server.service.personal_values import error_without_values, without_personal_values
from sluice.server.service.scheduler import Clock, Scheduler, scheduled_spec

#: 1-63 lowercase letters, digits, '.', '_' and '-', starting and ending with a letter
#: or digit (it appears in request ids, labels and logs).
_NAME: Final = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?$")

#: Checks an export spec as CreateExport would (raises InvalidArgument naming the field).
CheckSpec = Callable[[ExportSpec], object]


@dataclass(frozen=True)
class NewSchedule:
    name: str
    spec: ExportSpec
    cron: str
    #: IANA zone name; "" is UTC.
    timezone: str = ""
    #: "" is "forbid".
    concurrency: str = ""
    #: "" is "skip".
    catch_up: str = ""
    paused: bool = False


@dataclass(frozen=True)
class ScheduleView:
    """A schedule as a caller sees it: with the current state of its last export, and
    its spec without the people it names unless the caller is an admin."""

    schedule: Schedule
    #: None without a last export (or when the job store no longer knows it).
    last_export_state: JobState | None = None


class ScheduleService:
    def __init__(
        self,
        store: ScheduleStore,
        jobs: JobStore,
        scheduler: Scheduler,
        check_spec: CheckSpec,
        clock: Clock,
    ) -> None:
        self._store = store
        self._jobs = jobs
        self._scheduler = scheduler
        self._check_spec = check_spec
        self._clock = clock

    # Schedules belong to the server, not to a caller: their exports run as the daemon
    # (created_by ""), so managing them takes the admin scope and reading them
    # exports:read. Their exports are NOT_FOUND to a reader who is not an admin, so the
    # people a spec names (subject id, SQL literals, ids, e-mail notify targets) are an
    # admin's to see too: others get the spec without them, and the last tick's error
    # without the values it may quote (personal_values.py). Without principals
    # everyone is the anonymous admin.

    def create(self, new: NewSchedule, principal: Principal) -> ScheduleView:
        require_scope(principal, Scope.ADMIN)
        check_schedule_name(new.name)
        check_new_timezone(new.timezone)
        times = CronTimes.parse(new.cron, new.timezone)
        concurrency = _choice(new.concurrency or "forbid", CONCURRENCY_POLICIES, "concurrency")
        catch_up = _choice(new.catch_up or "skip", CATCH_UP_POLICIES, "catch_up")
        if new.spec.incremental.mode == "incremental" and concurrency != "forbid":
            raise InvalidArgument(
                "concurrency",
                "an incremental schedule chains each export on the previous one: use forbid",
            )
        schedule = Schedule(
            name=new.name,
            # As CreateExport stores it: checked below, and shown, with the template each
            # tick will take.
            spec=with_default_template(new.spec),
            cron=new.cron.strip(),
            timezone=new.timezone or "UTC",
            uid=secrets.token_hex(6),
            concurrency=concurrency,
            catch_up=catch_up,
            paused=new.paused,
            next_tick=None if new.paused else times.next_after(self._clock()),
        )
        # As each tick will run it (with the schedule's label), so a tick cannot fail
        # on something creation could have said.
        self._check_spec(scheduled_spec(schedule))
        return self._view(self._store.create_schedule(schedule), principal)

    def get(self, name: str, principal: Principal) -> ScheduleView:
        require_scope(principal, Scope.READ)
        check_schedule_name(name)
        return self._view(self._store.get_schedule(name), principal)

    def list(self, principal: Principal) -> Sequence[ScheduleView]:
        require_scope(principal, Scope.READ)
        return [self._view(schedule, principal) for schedule in self._store.list_schedules()]

    def pause(self, name: str, principal: Principal) -> ScheduleView:
        require_scope(principal, Scope.ADMIN)
        check_schedule_name(name)
        return self._view(self._store.set_schedule_paused(name, True, None), principal)

    def resume(self, name: str, principal: Principal) -> ScheduleView:
        """From now on: ticks missed while paused are not run."""
        require_scope(principal, Scope.ADMIN)
        check_schedule_name(name)
        schedule = self._store.get_schedule(name)
        if not schedule.paused:
            return self._view(schedule, principal)
        times = CronTimes.parse(schedule.cron, schedule.timezone)
        next_tick = times.next_after(self._clock())
        return self._view(self._store.set_schedule_paused(name, False, next_tick), principal)

    def delete(self, name: str, principal: Principal) -> None:
        require_scope(principal, Scope.ADMIN)
        check_schedule_name(name)
        self._store.delete_schedule(name)

    def trigger(self, name: str, principal: Principal) -> Job:
        require_scope(principal, Scope.ADMIN)
        check_schedule_name(name)
        return self._scheduler.trigger(name)

    def _view(self, schedule: Schedule, principal: Principal) -> ScheduleView:
        if not principal.admin:
            schedule = replace(
                schedule,
                spec=without_personal_values(schedule.spec),
                last_error=error_without_values(schedule.last_error),
            )
        if not schedule.last_export_id:
            return ScheduleView(schedule)
        try:
            job = self._jobs.get(schedule.last_export_id)
        except NotFound:
            return ScheduleView(schedule)
        if not may_see(principal, job):
            # The server's exports are NOT_FOUND to GetExport for a non-admin: their ids
            # and states are not shown here either.
            return ScheduleView(replace(schedule, last_export_id=""))
        return ScheduleView(schedule, job.state)


def check_schedule_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise InvalidArgument(
            "name",
            f"{quoted(name)} is not a schedule name: 1-63 lowercase letters, digits, '.', '_'"
            " and '-', starting and ending with a letter or digit",
        )


def _choice(value: str, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        expected = " or ".join(allowed)
        raise InvalidArgument(field, f"unknown policy {quoted(value)}; expected {expected}")
    return value
