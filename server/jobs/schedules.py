"""Schedules as the job store keeps them, and the contract both SQL stores implement.

A schedule is a named export spec plus when to run it (a cron expression read in an IANA
time zone) and two policies. The scheduler (server/service/scheduler.py) decides what a
tick does; the store only keeps the row and advances it by compare-and-set on
`next_tick`, so of several schedulers looking at one due tick exactly one records it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from sluice.server.errors import NotFound
from sluice.server.jobs.rows import ReadTime, WriteTime
from sluice.server.planning.spec import ExportSpec

#: A tick while the schedule's previous export is unfinished: "forbid" skips (and
#: records) it, "allow" runs it anyway.
CONCURRENCY_POLICIES: Final = ("forbid", "allow")
#: Ticks missed while no daemon ran: "skip" drops them and waits for the next one,
#: "latest" runs the most recent missed tick once. Never a burst of every missed tick.
CATCH_UP_POLICIES: Final = ("skip", "latest")


@dataclass(frozen=True)
class Schedule:
    name: str
    spec: ExportSpec
    cron: str
    timezone: str
    #: Minted at creation: part of every tick's request id, so a schedule deleted and
    #: created again under the same name never collides with its predecessor's exports.
    uid: str
    concurrency: str = "forbid"
    catch_up: str = "skip"
    paused: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
    #: The next tick to consider (None while paused).
    next_tick: datetime | None = None
    #: The last tick that created an export (or was skipped), and that export's id.
    last_tick: datetime | None = None
    last_export_id: str = ""
    #: Ticks skipped by the concurrency policy or missed while no daemon ran.
    skipped_ticks: int = 0
    last_skipped_tick: datetime | None = None
    #: Why the last tick could not create its export ("" when it could).
    last_error: str = ""


@dataclass(frozen=True)
class TickRecord:
    """What one tick changed: the schedule's next tick and what became of this one."""

    next_tick: datetime | None
    tick: datetime | None = None
    export_id: str = ""
    #: How many ticks this step skipped (concurrency, or missed while down).
    skipped: int = 0
    skipped_tick: datetime | None = None
    error: str = ""
    #: The last export id the tick saw: `export_id` is recorded only if the schedule's
    #: last export is still that one (or already `export_id`), so a stale pass never moves
    #: it back over a later trigger's export. None: recorded unconditionally.
    replacing: str | None = None


class ScheduleStore(Protocol):
    """Schedules in the job store. Both SQL stores implement it (tests/unit/
    test_schedule_store_contract.py runs it on SQLite and PostgreSQL)."""

    def create_schedule(self, schedule: Schedule) -> Schedule:
        """Insert; AlreadyExists when the name is taken. Stamps created_at/updated_at."""
        ...

    def get_schedule(self, name: str) -> Schedule:
        """NotFound for an unknown name."""
        ...

    def list_schedules(self) -> Sequence[Schedule]:
        """Every schedule, by name."""
        ...

    def delete_schedule(self, name: str) -> None:
        """NotFound for an unknown name. Its exports stay."""
        ...

    def set_schedule_paused(self, name: str, paused: bool, next_tick: datetime | None) -> Schedule:
        """Pause (next_tick None) or resume (next_tick from now: no catch-up burst)."""
        ...

    def record_tick(self, name: str, expected_next: datetime, record: TickRecord) -> bool:
        """Advance the schedule if its next tick is still `expected_next` (and it is not
        paused); False, changing nothing, when another scheduler got there first."""
        ...

    def record_trigger(
        self, name: str, export_id: str, *, replacing: str | None = None
    ) -> Schedule | None:
        """Note an export started by hand as the schedule's last export. With
        `replacing` (the last export id the trigger saw; "" for none), only if the last
        export is still that one: None, changing nothing, when another trigger or a tick
        recorded one first (compare-and-set, as record_tick)."""
        ...


SCHEDULE_COLUMNS: Final = (
    "name, uid, spec_json, cron, timezone, concurrency, catch_up, paused, created_at,"
    " updated_at, next_tick, last_tick, last_export_id, skipped_ticks, last_skipped_tick,"
    " last_error"
)

#: record_trigger's UPDATE, with `?` placeholders: export id, now, name, then (with
#: RECORD_TRIGGER_IF_LAST) the last export id expected.
RECORD_TRIGGER_SQL: Final = "UPDATE schedules SET last_export_id = ?, updated_at = ? WHERE name = ?"
RECORD_TRIGGER_IF_LAST: Final = " AND COALESCE(last_export_id, '') = ?"

#: record_tick's UPDATE, with `?` placeholders; values from tick_values.
RECORD_TICK_SQL: Final = (
    "UPDATE schedules SET next_tick = ?, updated_at = ?,"
    " last_tick = COALESCE(?, last_tick),"
    " last_export_id = CASE WHEN ? = '' OR COALESCE(last_export_id, '')"
    " NOT IN (COALESCE(?, last_export_id, ''), ?) THEN last_export_id ELSE ? END,"
    " skipped_ticks = skipped_ticks + ?,"
    " last_skipped_tick = COALESCE(?, last_skipped_tick),"
    " last_error = ?"
    " WHERE name = ? AND next_tick = ? AND NOT paused"
)


def tick_values(
    name: str, expected_next: datetime, record: TickRecord, now: datetime, write: WriteTime
) -> tuple[object, ...]:
    def maybe(value: datetime | None) -> object:
        return None if value is None else write(value)

    return (
        maybe(record.next_tick),
        write(now),
        maybe(record.tick),
        record.export_id,
        record.replacing,
        record.export_id,
        record.export_id,
        record.skipped,
        maybe(record.skipped_tick),
        record.error,
        name,
        write(expected_next),
    )


def schedule_values(schedule: Schedule, now: datetime, write: WriteTime) -> tuple[object, ...]:
    """A new schedule as the values of `INSERT INTO schedules (SCHEDULE_COLUMNS)`."""
    return (
        schedule.name,
        schedule.uid,
        schedule.spec.to_json(),
        schedule.cron,
        schedule.timezone,
        schedule.concurrency,
        schedule.catch_up,
        schedule.paused,
        write(now),
        write(now),
        None if schedule.next_tick is None else write(schedule.next_tick),
        None,
        "",
        0,
        None,
        "",
    )


def schedule_from_row(row: Mapping[str, Any], read_time: ReadTime) -> Schedule:
    return Schedule(
        name=row["name"],
        uid=row["uid"],
        spec=ExportSpec.from_json(row["spec_json"]),
        cron=row["cron"],
        timezone=row["timezone"],
        concurrency=row["concurrency"],
        catch_up=row["catch_up"],
        paused=bool(row["paused"]),
        created_at=read_time(row["created_at"]),
        updated_at=read_time(row["updated_at"]),
        next_tick=read_time(row["next_tick"]),
        last_tick=read_time(row["last_tick"]),
        last_export_id=row["last_export_id"],
        skipped_ticks=int(row["skipped_ticks"]),
        last_skipped_tick=read_time(row["last_skipped_tick"]),
        last_error=row["last_error"],
    )


def schedule_not_found(name: str) -> NotFound:
    return NotFound(f"schedule '{name}' not found")
