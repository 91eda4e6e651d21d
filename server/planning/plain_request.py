"""Plain-language export requests ("my job applications from last month as CSV") read
by a deterministic parser: fixed phrases, no model, no network, the same answer every
time for the same text, `now` and named sources.

Every word is either part of a recognised phrase, a filler word ("please", "my", "the"),
a word naming one of the named sources (by name or description), or reported back as
not understood: the parser never drops a word silently. Requests Sluice cannot serve
("delete ...") and contradictions ("as CSV as Parquet") are refused with
InvalidArgument on field "text".
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from sluice.server.errors import InvalidArgument

_FILLER_WORDS = """
a all an and as can could download export exports from get give i in it just me my of on
our please records send the them to us want we would you your like every data file files
copy everything with for
"""
#: Words that carry no request of their own.
FILLER: Final = frozenset(_FILLER_WORDS.split())
_REFUSED = "delete remove erase wipe drop destroy purge truncate overwrite import"
#: Verbs Sluice never does: a request using one is refused, not half-served.
REFUSED_VERBS: Final = frozenset(_REFUSED.split())
FORMATS: Final = {
    "csv": "csv",
    "json": "json",
    "jsonl": "jsonl",
    "ndjson": "jsonl",
    "parquet": "parquet",
    "arrow": "arrow",
    "xml": "xml",
    "yaml": "yaml",
    "markdown": "md",
    "md": "md",
}
REPORTS: Final = {"pdf": "pdf", "html": "html"}
MONTHS: Final = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
WEEKDAYS: Final = {
    name: number
    for number, names in enumerate(
        [
            ("sunday", "sundays"),
            ("monday", "mondays"),
            ("tuesday", "tuesdays"),
            ("wednesday", "wednesdays"),
            ("thursday", "thursdays"),
            ("friday", "fridays"),
            ("saturday", "saturdays"),
        ]
    )
    for name in names
}
_NUMBER_WORDS = "zero one two three four five six seven eight nine ten eleven twelve"
NUMBERS: Final = {word: number for number, word in enumerate(_NUMBER_WORDS.split())}
UNITS: Final = {"day": 1, "days": 1, "week": 7, "weeks": 7}
PRIVACY: Final = {"basic": "basic", "moderate": "moderate", "strict": "strict", "no": "none"}


@dataclass(frozen=True)
class NamedSource:
    name: str
    description: str = ""


@dataclass(frozen=True)
class TextPlan:
    """What the text asked for; empty fields were not asked for."""

    source_name: str = ""
    format: str = ""
    #: "pdf" | "html": a report of the export rather than (only) data files.
    report: str = ""
    #: Inclusive lower / exclusive upper bounds, UTC.
    since: datetime | None = None
    until: datetime | None = None
    #: Redaction level: none | basic | moderate | strict.
    privacy: str = ""
    #: "recipients" (the configured backup recipients) | "passphrase".
    encryption: str = ""
    #: What the encryption resolves to, filled by the caller from its configuration
    #: (the parser knows no configuration): age recipients, or a secret's name.
    age_recipients: tuple[str, ...] = ()
    passphrase_secret: str = ""
    #: backup | sharing (a GDPR request is refused: `sluice gdpr package` serves it).
    template: str = ""
    #: A cron expression (5 fields or @daily/@weekly/@monthly/@hourly).
    schedule: str = ""
    #: Words not understood, in order of appearance.
    unparsed: tuple[str, ...] = ()
    #: The phrases recognised, in order (for showing what was understood).
    understood: tuple[str, ...] = field(default=(), compare=False)


Tokens = Sequence[str]
#: A rule at position i: (tokens consumed, updated plan) or None when it does not apply.
Rule = Callable[[Tokens, int, TextPlan, datetime], tuple[int, TextPlan] | None]

#: Apostrophes read as "'" (a typographic one in "o\u2019clock").
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'"})


def tokenize(text: str) -> list[str]:
    """The tokens of `text`, lower-cased and NFKC-normalised (fullwidth letters are the
    letters): words (letters, digits and marks of any script; "o'clock", "2025-02-10",
    "14:30" whole) and runs of symbols (emoji, "+", "$"). Spaces and punctuation only
    separate them: every other character is in a token, so a word the rules do not know
    is named in `unparsed`, whatever its script (ASCII-only tokens dropped the rest, and
    "без личных данных", "without personal data", asked for nothing)."""
    normal = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).lower()
    tokens: list[str] = []
    current, kind = "", ""
    for i, char in enumerate(normal):
        this = _kind(normal, i, kind)
        if this != kind and current:
            tokens.append(current)
            current = ""
        if this:
            current += char
        kind = this
    if current:
        tokens.append(current)
    return tokens


def _kind(text: str, i: int, before: str) -> str:
    """What text[i] belongs to: "w" a word, "s" a run of symbols, "" neither (a space,
    punctuation, a control or format character). `before` is text[i - 1]'s kind."""
    char = text[i]
    category = unicodedata.category(char)
    if category[0] == "M":  # an accent or variation selector: part of what it follows
        return before or "w"
    if char.isalnum():
        return "w"
    if category[0] == "P":
        previous, following = text[i - 1 : i], text[i + 1 : i + 2]
        if char in "-:" and _ascii_digit(previous) and _ascii_digit(following):
            return "w"  # 2025-02-10, 14:30
        if char == "'" and previous.isalpha() and following.isalpha():
            return "w"  # o'clock
        return ""
    if category in _INVISIBLE and before == "w" and _word_follows(text, i + 1):
        # A zero-width space or soft hyphen inside a word ("no\u200bredaction") keeps it
        # one word the rules do not know (unparsed), never two they do ("no redaction").
        return "w"
    if category[0] in "CZ":
        return ""
    return "s"


#: Format, private-use and unassigned characters: nothing shows where they are.
_INVISIBLE: Final = frozenset({"Cf", "Co", "Cn"})


def _word_follows(text: str, i: int) -> bool:
    """Whether a letter, digit or mark comes at i, after any invisible characters."""
    while i < len(text) and unicodedata.category(text[i]) in _INVISIBLE:
        i += 1
    return i < len(text) and (text[i].isalnum() or unicodedata.category(text[i])[0] == "M")


def _ascii_digit(char: str) -> bool:
    return char.isascii() and char.isdigit()


def parse_request(text: str, now: datetime, sources: Sequence[NamedSource] = ()) -> TextPlan:
    """Read `text` relative to `now` (aware, in the zone relative ranges are meant in)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    tokens = tokenize(text)
    if not tokens:
        raise InvalidArgument("text", "says nothing to export")
    for token in tokens:
        if token in REFUSED_VERBS:
            raise InvalidArgument(
                "text", f"'{token}': Sluice only exports; it never changes or removes data"
            )
    plan = TextPlan()
    leftovers: list[str] = []
    i = 0
    while i < len(tokens):
        for rule in _RULES:
            try:
                matched = rule(tokens, i, plan, now)
            except (OverflowError, ValueError):  # "last 99999999 days", "in 99999"
                raise InvalidArgument(
                    "text", f"'{' '.join(tokens[i : i + 4])}…' is out of any date range"
                ) from None
            if matched is not None:
                count, plan = matched
                plan = replace(plan, understood=(*plan.understood, " ".join(tokens[i : i + count])))
                i += count
                break
        else:
            leftovers.append(tokens[i])
            i += 1
    words = [word for word in leftovers if word not in FILLER]
    requests = _subject_requests(tokens)
    try:
        source, used = _match_source(words, sources)
    except InvalidArgument:
        if requests:  # "orders for GDPR" beside a source gdpr_requests
            _refuse_subject_request(requests[0])
        raise
    for request in requests:
        # Unless its words are those the named source was found by ("the gdpr requests":
        # source gdpr_requests), it asks for one person's data.
        if not {word for word in request if word not in FILLER} <= used:
            _refuse_subject_request(request)
    unparsed = tuple(word for word in words if word not in used)
    return replace(plan, source_name=source, unparsed=unparsed)


# -- rules ------------------------------------------------------------------------------


def _set(plan: TextPlan, name: str, value: Any, phrase: str) -> TextPlan:
    asked = _ASKED_ONCE[name]
    current = asked.current(plan)
    if current and current != value:
        raise InvalidArgument("text", f"asks for two {asked.what}s ('{phrase}' and another)")
    return asked.set(plan, value)


@dataclass(frozen=True)
class _AskedOnce:
    """A field of the plan a request may ask for once: how an error names it, what the
    plan holds for it so far, and the plan with it set (an explicit table, not names
    looked up on the plan)."""

    what: str
    current: Callable[[TextPlan], object]
    set: Callable[[TextPlan, Any], TextPlan]


_ASKED_ONCE: Final = {
    "format": _AskedOnce("format", lambda p: p.format, lambda p, v: replace(p, format=v)),
    "report": _AskedOnce("report", lambda p: p.report, lambda p, v: replace(p, report=v)),
    "privacy": _AskedOnce("privacy level", lambda p: p.privacy, lambda p, v: replace(p, privacy=v)),
    "encryption": _AskedOnce(
        "encryption", lambda p: p.encryption, lambda p, v: replace(p, encryption=v)
    ),
    "template": _AskedOnce("template", lambda p: p.template, lambda p, v: replace(p, template=v)),
    "schedule": _AskedOnce("schedule", lambda p: p.schedule, lambda p, v: replace(p, schedule=v)),
    "since": _AskedOnce("start time", lambda p: p.since, lambda p, v: replace(p, since=v)),
    "until": _AskedOnce("end time", lambda p: p.until, lambda p, v: replace(p, until=v)),
}


def _at(tokens: Tokens, i: int) -> str:
    return tokens[i] if 0 <= i < len(tokens) else ""


def _format_rule(
    tokens: Tokens, i: int, plan: TextPlan, now: datetime
) -> tuple[int, TextPlan] | None:
    j = i
    if _at(tokens, j) in {"as", "in", "into", "to"}:
        j += 1
        if _at(tokens, j) in {"a", "an"}:
            j += 1
    word = _at(tokens, j)
    if word == "spreadsheet":
        word = "csv"
    if word in FORMATS:
        end = j + 1 + (_at(tokens, j + 1) in {"file", "files", "format"})
        return end - i, _set(plan, "format", FORMATS[word], word)
    if word in REPORTS or (word == "report" and j > i):
        kind = REPORTS.get(word, "pdf")
        end = j + 1 + (_at(tokens, j + 1) == "report")
        return end - i, _set(plan, "report", kind, word)
    return None


def _period(unit: str, now: datetime, offset: int) -> tuple[datetime, datetime] | None:
    """The calendar `unit` (day, week, month, year) `offset` periods from the current."""
    today = now.date()
    if unit == "day":
        start = today + timedelta(days=offset)
        return _midnight(start, now), _midnight(start + timedelta(days=1), now)
    if unit == "week":
        start = today - timedelta(days=today.weekday()) + timedelta(weeks=offset)
        return _midnight(start, now), _midnight(start + timedelta(weeks=1), now)
    if unit == "month":
        year, month = divmod(today.year * 12 + today.month - 1 + offset, 12)
        start = date(year, month + 1, 1)
        return _midnight(start, now), _midnight(_next_month(start), now)
    if unit == "year":
        start = date(today.year + offset, 1, 1)
        return _midnight(start, now), _midnight(date(start.year + 1, 1, 1), now)
    return None


def _months_back(now: datetime, months: int) -> datetime:
    """The same local time `months` calendar months before `now`, on the same day or
    the month's last day when it is shorter (31 March - 1 month: 28/29 February)."""
    year, month = divmod(now.year * 12 + now.month - 1 - months, 12)
    day = min(now.day, calendar.monthrange(year, month + 1)[1])
    return now.replace(year=year, month=month + 1, day=day)


def _time_rule(
    tokens: Tokens, i: int, plan: TextPlan, now: datetime
) -> tuple[int, TextPlan] | None:
    word, after = _at(tokens, i), _at(tokens, i + 1)
    span: tuple[datetime | None, datetime | None] | None = None
    count = 0
    if word in {"today", "yesterday"}:
        span, count = _period("day", now, 0 if word == "today" else -1), 1
    elif word in {"last", "past", "previous", "this"}:
        number = _number(after)
        unit = _at(tokens, i + 2) if number is not None else after
        unit = unit.removesuffix("s") if unit not in {"days", "weeks"} or number is None else unit
        if number is not None and unit in UNITS:
            span, count = (now - timedelta(days=number * UNITS[unit]), None), 3
        elif number is not None and unit.removesuffix("s") in {"month", "year"}:
            # Rolling, like "last 7 days": "last 12 months" on 8 December starts on
            # 8 December a year back ("last month" alone is the calendar month).
            months = number * (12 if unit.removesuffix("s") == "year" else 1)
            span, count = (_months_back(now, months), None), 3
        elif number is None and unit in {"day", "week", "month", "year"}:
            period = _period(unit, now, 0 if word == "this" else -1)
            if period is not None:
                # "this month": from its start up to now.
                span, count = (period[0], None if word == "this" else period[1]), 2
    elif word in {"since", "after", "from"}:
        parsed = _date(tokens, i + 1, now)
        if parsed is not None:
            used, start, _end = parsed
            span, count = (start, None), 1 + used
    elif word == "between":
        first = _date(tokens, i + 1, now)
        if first is not None and _at(tokens, i + 1 + first[0]) == "and":
            second = _date(tokens, i + 2 + first[0], now)
            if second is not None:
                span, count = (first[1], second[2]), 2 + first[0] + second[0]
    elif word in {"to", "through", "thru"}:
        # "from March to May": May included.
        parsed = _date(tokens, i + 1, now)
        if parsed is not None:
            used, _start, end = parsed
            span, count = (None, end), 1 + used
    elif word in {"before", "until", "till"}:
        parsed = _date(tokens, i + 1, now)
        if parsed is not None:
            used, start, _end = parsed
            span, count = (None, start), 1 + used
    elif word in {"in", "during", "for"}:
        parsed = _date(tokens, i + 1, now)
        if parsed is not None:
            used, start, end = parsed
            span, count = (start, end), 1 + used
    if span is None:
        return None
    phrase = " ".join(tokens[i : i + count])
    since, until = span
    if since is not None:
        plan = _set(plan, "since", since.astimezone(UTC), phrase)
    if until is not None:
        plan = _set(plan, "until", until.astimezone(UTC), phrase)
    if plan.since and plan.until and plan.since >= plan.until:
        raise InvalidArgument("text", f"'{phrase}' leaves an empty time range")
    return count, plan


def _date(tokens: Tokens, i: int, now: datetime) -> tuple[int, datetime, datetime] | None:
    """A date at i: (tokens used, start, end of the period it names). A month without a
    year is its latest occurrence not after `now`."""
    word = _at(tokens, i)
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", word):
        try:
            day = date.fromisoformat(word)
        except ValueError:
            raise InvalidArgument("text", f"'{word}' is not a date") from None
        return 1, _midnight(day, now), _midnight(day + timedelta(days=1), now)
    if re.fullmatch(r"(19|20)[0-9]{2}", word):
        year = int(word)
        return 1, _midnight(date(year, 1, 1), now), _midnight(date(year + 1, 1, 1), now)
    if word in MONTHS:
        month = MONTHS[word]
        year_word = _at(tokens, i + 1)
        if re.fullmatch(r"(19|20)[0-9]{2}", year_word):
            start, used = date(int(year_word), month, 1), 2
        else:
            year = now.year if month <= now.month else now.year - 1
            start, used = date(year, month, 1), 1
        return used, _midnight(start, now), _midnight(_next_month(start), now)
    return None


def _privacy_rule(
    tokens: Tokens, i: int, plan: TextPlan, now: datetime
) -> tuple[int, TextPlan] | None:
    word, after, third = _at(tokens, i), _at(tokens, i + 1), _at(tokens, i + 2)
    level, count = "", 0
    if word in {"sanitized", "sanitised", "sanitize", "sanitise", "redacted"}:
        level, count = "moderate", 1
    elif word in {"anonymized", "anonymised", "anonymous", "anonymize", "anonymise"}:
        level, count = "strict", 1
    elif word in {"unredacted", "raw"}:
        level, count = "none", 1
    elif word == "with" and after in PRIVACY and third in {"privacy", "redaction"}:
        level, count = PRIVACY[after], 3
    elif word in PRIVACY and word != "no" and after in {"privacy", "redaction"}:
        level, count = PRIVACY[word], 2
    elif word in {"without", "no"} and after in {"pii", "redaction"}:
        level, count = ("strict" if after == "pii" else "none"), 2
    elif (
        word in {"without", "no"}
        and after in {"personal", "private", "sensitive", "identifying"}
        and third in {"data", "information", "info", "details"}
    ):
        level, count = "strict", 3
    if not level:
        return None
    return count, _set(plan, "privacy", level, " ".join(tokens[i : i + count]))


def _encryption_rule(
    tokens: Tokens, i: int, plan: TextPlan, now: datetime
) -> tuple[int, TextPlan] | None:
    word = _at(tokens, i)
    j, kind = i, ""
    if word in {"encrypted", "encrypt", "encryption", "secure", "securely"}:
        j, kind = i + 1, "recipients"
        if _at(tokens, j) in {"with", "by", "using"}:
            k = j + 1 + (_at(tokens, j + 1) in {"a", "an", "my"})
            if _at(tokens, k) in {"passphrase", "password"}:
                j, kind = k + 1, "passphrase"
    elif word == "password" and _at(tokens, i + 1) == "protected":
        j, kind = i + 2, "passphrase"
    elif (
        word == "with"
        and _at(tokens, i + 1) in {"a", "an"}
        and _at(tokens, i + 2)
        in {
            "passphrase",
            "password",
        }
    ):
        j, kind = i + 3, "passphrase"
    if not kind:
        return None
    return j - i, _set(plan, "encryption", kind, " ".join(tokens[i:j]))


def _template_rule(
    tokens: Tokens, i: int, plan: TextPlan, now: datetime
) -> tuple[int, TextPlan] | None:
    word, after = _at(tokens, i), _at(tokens, i + 1)
    template, count = "", 0
    if word == "backup" or (word == "back" and after == "up"):
        count = 1 if word == "backup" else 2
        if _at(tokens, i + count) in {"everything", "all", "of"}:
            count += 1
            if tokens[i + count - 1] == "of" and _at(tokens, i + count) == "everything":
                count += 1
        template = "backup"
    elif word == "full" and after == "backup":
        template, count = "backup", 2
    elif word in {"share", "sharing"} or (word in {"to", "for"} and after in {"share", "sharing"}):
        count = 1 if word in {"share", "sharing"} else 2
        if _at(tokens, i + count) == "with":
            count += 1
            if _at(tokens, i + count) in {"my", "our", "a", "the", "an"}:
                count += 1
            if _at(tokens, i + count):
                count += 1  # who it is shared with: a person, not a request
        template = "sharing"
    if not template:
        return None
    return count, _set(plan, "template", template, " ".join(tokens[i : i + count]))


#: Phrases that can only mean a request for one person's data (a data subject access
#: request), in stemmed words. Word pairs such as "data access" are not among them: "the
#: data access log" is an ordinary source.
_SUBJECT_REQUESTS: Final = (
    ("gdpr",),
    ("dsar",),
    ("subject", "access", "request"),
    ("data", "subject", "request"),
    ("data", "access", "request"),
    ("right", "of", "access"),
)


def _subject_requests(tokens: Tokens) -> list[Tokens]:
    """The phrases of `tokens` (as written) that ask for one person's data."""
    stems = [_stem(token) for token in tokens]
    return [
        tokens[i : i + len(phrase)]
        for phrase in _SUBJECT_REQUESTS
        for i in range(len(stems) - len(phrase) + 1)
        if tuple(stems[i : i + len(phrase)]) == phrase
    ]


def _refuse_subject_request(phrase: Tokens) -> None:
    """A GDPR (subject access) request is one person's data, and only a subject package
    selects a person's rows: template `gdpr` alone would export everyone's (the server
    refuses it outside a package). The grammar names no person, so it is refused."""
    raise InvalidArgument(
        "text",
        f"'{' '.join(phrase)}' asks for one person's data: run `sluice gdpr package "
        "--subject ID --to DEST` (a subject package)",
    )


def _schedule_rule(
    tokens: Tokens, i: int, plan: TextPlan, now: datetime
) -> tuple[int, TextPlan] | None:
    word, after = _at(tokens, i), _at(tokens, i + 1)
    kind, count, weekday = "", 0, None
    if word in {"nightly", "daily"}:
        kind, count = ("night" if word == "nightly" else "day"), 1
    elif word in {"weekly", "monthly", "hourly"}:
        kind, count = word.removesuffix("ly"), 1
    elif word in {"every", "each"} and after in {
        "night",
        "day",
        "morning",
        "evening",
        "week",
        "month",
        "hour",
    }:
        kind, count = after, 2
    elif word in {"every", "each", "on"} and after in WEEKDAYS:
        kind, count, weekday = "weekday", 2, WEEKDAYS[after]
    if not kind:
        return None
    if kind == "week" and _at(tokens, i + count) == "on" and _at(tokens, i + count + 1) in WEEKDAYS:
        weekday, kind, count = WEEKDAYS[tokens[i + count + 1]], "weekday", count + 2
    hour, minute = {"night": (2, 0), "morning": (7, 0), "evening": (19, 0)}.get(kind, (0, 0))
    at_time = _clock(tokens, i + count) if _at(tokens, i + count) == "at" else None
    if at_time is not None:
        used, hour, minute, said_which_half = at_time
        count += used
        if not said_which_half:
            hour = _hour_of(kind, hour, " ".join(tokens[i : i + count]))
    if kind in {"hour", "hourly"}:
        cron = "@hourly"
    elif kind in {"month", "monthly"} and at_time is None:
        cron = "@monthly"
    elif kind in {"month", "monthly"}:
        cron = f"{minute} {hour} 1 * *"
    elif kind in {"week", "weekly"} and at_time is None:
        cron = "@weekly"
    elif kind in {"week", "weekly"}:
        cron = f"{minute} {hour} * * 0"
    elif kind == "weekday":
        cron = f"{minute} {hour} * * {weekday}"
    elif kind == "day" and at_time is None:
        cron = "@daily"
    else:
        cron = f"{minute} {hour} * * *"
    return count, _set(plan, "schedule", cron, " ".join(tokens[i : i + count]))


def _hour_of(kind: str, hour: int, words: str) -> int:
    """A bare hour of 1-12 read in the part of the day named: "every evening at 8" is
    20:00, "every night at 11" 23:00 and "at 12" midnight, "every night at 2" 02:00."""
    if kind == "night":
        if hour == 12:
            return 0
        return hour + 12 if 7 <= hour < 12 else hour
    if kind == "evening":
        if hour == 12:
            raise InvalidArgument("text", f"'{words}': say 'at noon' or 'at midnight'")
        return hour + 12 if 1 <= hour < 12 else hour
    return hour


def _clock(tokens: Tokens, at: int) -> tuple[int, int, int, bool] | None:
    """'at 2', 'at 2am', 'at 2 pm', 'at 14:30', 'at noon': (tokens used incl. 'at', h, m,
    whether the words said which half of the day: am/pm, noon/midnight, or 13-23 and 0)."""
    word = _at(tokens, at + 1)
    if word in {"noon", "midday"}:
        return 2, 12, 0, True
    if word == "midnight":
        return 2, 0, 0, True
    match = re.fullmatch(r"([0-9]{1,2})(?::([0-9]{2}))?(am|pm)?", word)
    if match is None:
        return None
    hour, minute, suffix = int(match[1]), int(match[2] or 0), match[3]
    used = 2
    if suffix is None and _at(tokens, at + 2) in {"am", "pm", "o'clock"}:
        suffix, used = _at(tokens, at + 2), 3
    if suffix == "pm" and hour < 12:
        hour += 12
    elif suffix == "am" and hour == 12:
        hour = 0
    if hour > 23 or minute > 59:
        raise InvalidArgument("text", f"'{word}' is not a time of day")
    return used, hour, minute, suffix in {"am", "pm"} or not 1 <= hour <= 12


_RULES: Final[tuple[Rule, ...]] = (
    _schedule_rule,
    _format_rule,
    _template_rule,
    _encryption_rule,
    _privacy_rule,
    _time_rule,
)


# -- named sources ---------------------------------------------------------------------


def _match_source(words: Sequence[str], sources: Sequence[NamedSource]) -> tuple[str, set[str]]:
    """The named source the words point at (by name 2 points, description 1 point a
    word), and the words it used. Two sources scoring the same best: refused."""
    best: list[tuple[int, str, set[str]]] = []
    for source in sources:
        name_words = {_stem(w) for w in re.split(r"[\s_\-.]+", source.name.lower()) if w}
        described = {
            _stem(w) for w in tokenize(source.description) if w not in FILLER and len(w) > 2
        }
        score, used = 0, set[str]()
        for word in words:
            stem = _stem(word)
            if stem in name_words:
                score, used = score + 2, used | {word}
            elif stem in described:
                score, used = score + 1, used | {word}
        if score:
            best.append((score, source.name, used))
    if not best:
        return "", set()
    best.sort(key=lambda item: -item[0])
    if len(best) > 1 and best[0][0] == best[1][0]:
        raise InvalidArgument(
            "text",
            f"could mean source '{best[0][1]}' or '{best[1][1]}': name one of them",
        )
    return best[0][1], best[0][2]


def _stem(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def _number(word: str) -> int | None:
    if _ascii_digit(word[:1]) and word.isascii() and word.isdigit():
        return int(word)
    return NUMBERS.get(word)


def _midnight(day: date, now: datetime) -> datetime:
    return datetime.combine(day, time(0), tzinfo=now.tzinfo)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)
