"""When a schedule ticks: a cron expression read in an IANA time zone.

croniter walks the expression over local wall-clock times; we turn each into an instant
ourselves so daylight-saving changes behave as people expect of a nightly job: a time
that does not exist (02:30 on the spring-forward night) runs at the instant the clocks
jump to, and a time that happens twice (02:30 on the fall-back night) runs once, the
first time. Every tick is an aware UTC datetime, strictly increasing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import CroniterBadDateError, croniter

from sluice.server.errors import InvalidArgument, quoted

#: Shorthands accepted besides five-field expressions.
ALIASES: Final = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_FIELD = re.compile(r"^[0-9A-Za-z*/,\-?LW#]+$")
#: Where `parse` checks that an expression fires at all.
_REFERENCE = datetime(2000, 1, 1, tzinfo=UTC)
_MAX_CRON_CHARS = 256
#: Each of the five fields: its name in errors and the values it holds.
_FIELD_RANGES: Final = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
#: Longest a clock change skips, in minutes (a day: Samoa, 2011).
_MAX_GAP_MINUTES = 24 * 60 + 1


@dataclass(frozen=True)
class CronTimes:
    """A validated cron expression in a zone."""

    expression: str
    zone: ZoneInfo

    @classmethod
    def parse(cls, cron: str, timezone: str) -> CronTimes:
        """InvalidArgument on field "cron" or "timezone" naming what is wrong (an
        expression that never fires, like "0 0 30 2 *", included)."""
        times = cls(_expression(cron), _zone(timezone))
        times.next_after(_REFERENCE)
        return times

    def next_after(self, instant: datetime) -> datetime:
        """The first tick strictly after `instant` (aware)."""
        local = instant.astimezone(self.zone).replace(tzinfo=None)
        # Start a minute back: on a fall-back night the local wall time of `instant` is
        # ambiguous and the tick we want may carry an earlier wall time than it.
        walk = croniter(self.expression, local - timedelta(minutes=1))
        while True:
            tick = _instant(self._step(walk, forward=True), self.zone)
            if tick > instant:
                return tick

    def latest_at_or_before(self, instant: datetime, *, after: datetime) -> datetime | None:
        """The last tick in (after, instant], or None when there is none."""
        local = instant.astimezone(self.zone).replace(tzinfo=None)
        walk = croniter(self.expression, local + timedelta(minutes=1))
        while True:
            tick = _instant(self._step(walk, forward=False), self.zone)
            if tick <= after:
                return None
            if tick <= instant:
                return tick

    def count_from(self, first: datetime, until: datetime, *, most: int) -> int:
        """How many ticks lie in [first, until) (`first` a tick), counting at most `most`."""
        count, tick = 0, first
        while tick < until and count < most:
            count, tick = count + 1, self.next_after(tick)
        return count

    def _step(self, walk: croniter, *, forward: bool) -> datetime:
        try:
            wall: datetime = walk.get_next(datetime) if forward else walk.get_prev(datetime)
        except CroniterBadDateError:
            raise InvalidArgument("cron", f"{quoted(self.expression)} never fires") from None
        return wall


def _expression(cron: str) -> str:
    text = " ".join(cron.split())
    if not text:
        raise InvalidArgument("cron", "is required (five fields, or @daily, @weekly, @monthly)")
    if len(text) > _MAX_CRON_CHARS:
        raise InvalidArgument("cron", f"is longer than {_MAX_CRON_CHARS} characters")
    if text.startswith("@"):
        expanded = ALIASES.get(text.lower())
        if expanded is None:
            raise InvalidArgument(
                "cron", f"unknown shorthand {quoted(text)}; expected one of {', '.join(ALIASES)}"
            )
        return expanded
    fields = text.split(" ")
    if len(fields) != 5 or not all(_FIELD.fullmatch(f) for f in fields):
        raise InvalidArgument(
            "cron", f"{quoted(text)} is not five fields (minute hour day month weekday)"
        )
    if not croniter.is_valid(text):
        raise InvalidArgument("cron", _bad_field(fields) or f"{quoted(text)} is not valid")
    return text


def _bad_field(fields: list[str]) -> str:
    """Which field croniter refuses, and why, tried one at a time beside `*`s."""
    for position, (name, lowest, highest) in enumerate(_FIELD_RANGES):
        alone = ["*"] * len(fields)
        alone[position] = fields[position]
        if croniter.is_valid(" ".join(alone)):
            continue
        values = [int(n) for n in re.findall(r"(?<![/\d])\d+", fields[position])]
        problem = (
            f"is out of range {lowest}-{highest}"
            if any(not lowest <= v <= highest for v in values)
            else "is not valid"
        )
        return f"{name} {quoted(fields[position])} {problem} in {quoted(' '.join(fields))}"
    return ""


#: In the zone database but no place's zone: the host's own setting, a template for
#: POSIX TZ strings, a placeholder, and the leap-second and POSIX-named copies.
_NOT_PLACES: Final = frozenset({"localtime", "posixrules", "Factory"})


@cache
def _iana_zones() -> frozenset[str]:
    return frozenset(
        name
        for name in available_timezones()
        if name not in _NOT_PLACES and not name.startswith(("posix/", "right/"))
    )


def check_new_timezone(timezone: str) -> None:
    """A schedule's zone must be an IANA name (legacy ones such as EST5EDT included):
    'localtime' would follow the daemon's host, 'right/UTC' counts leap seconds. Checked
    by CreateSchedule only (there is no update): a schedule stored with one keeps running."""
    if timezone and timezone not in _iana_zones():
        raise InvalidArgument(
            "timezone", f"unknown time zone {quoted(timezone)}; use an IANA name like Europe/Madrid"
        )


def _zone(timezone: str) -> ZoneInfo:
    if not timezone:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidArgument(
            "timezone", f"unknown time zone {quoted(timezone)}; use an IANA name like Europe/Madrid"
        ) from None


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """A local wall time as an instant: an ambiguous time at its first occurrence
    (fold=0), a time the clocks skipped at the instant they jumped (the first existing
    wall time after it)."""
    for minutes in range(_MAX_GAP_MINUTES):
        candidate = wall + timedelta(minutes=minutes)
        instant = candidate.replace(tzinfo=zone, fold=0).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == candidate:
            return instant
    return wall.replace(tzinfo=zone).astimezone(UTC)  # no zone skips more than a day
