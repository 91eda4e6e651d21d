"""The plain-language parser (server/planning/plain_request.py): a table of phrasings
and the plans they must give, relative to a fixed now in Europe/Madrid, including the
issue's seed examples, and phrasings that must be refused or must report unknown words."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sluice.server.errors import InvalidArgument
from sluice.server.planning.plain_request import NamedSource, TextPlan, parse_request

MADRID = ZoneInfo("Europe/Madrid")
#: Sunday 15 June 2025, 10:00 in Madrid (UTC+2).
NOW = datetime(2025, 6, 15, 10, 0, tzinfo=MADRID)
SOURCES = (
    NamedSource("applications", "Job applications I sent"),
    NamedSource("orders", "Customer orders from the shop"),
    NamedSource("messages", "Chat messages with mentors"),
    NamedSource("job_postings", "Postings scraped from boards"),
)


def local(*parts: int) -> datetime:
    """A Madrid wall-clock time, as the UTC instant the plan holds."""
    return datetime(*parts, tzinfo=MADRID).astimezone(UTC)  # type: ignore[misc]


CASES: list[tuple[str, dict[str, Any]]] = [
    # The issue's seed examples.
    ("Backup everything encrypted", {"template": "backup", "encryption": "recipients"}),
    (
        "Download my job applications from last month as CSV",
        {
            "source_name": "applications",
            "format": "csv",
            "since": local(2025, 5, 1),
            "until": local(2025, 6, 1),
        },
    ),
    ("my job applications", {"source_name": "applications"}),
    ("orders as a PDF", {"source_name": "orders", "report": "pdf"}),
    ("orders since March", {"source_name": "orders", "since": local(2025, 3, 1)}),
    (
        "orders in 2025",
        {"source_name": "orders", "since": local(2025, 1, 1), "until": local(2026, 1, 1)},
    ),
    (
        "orders from the last 7 days",
        {"source_name": "orders", "since": datetime(2025, 6, 8, 8, 0, tzinfo=UTC)},
    ),
    ("messages sanitized", {"source_name": "messages", "privacy": "moderate"}),
    ("messages with moderate privacy", {"source_name": "messages", "privacy": "moderate"}),
    ("messages without personal data", {"source_name": "messages", "privacy": "strict"}),
    ("orders encrypted", {"source_name": "orders", "encryption": "recipients"}),
    (
        "my applications to share with my mentor",
        {"source_name": "applications", "template": "sharing"},
    ),
    (
        "backup orders every night at 2",
        {"source_name": "orders", "template": "backup", "schedule": "0 2 * * *"},
    ),
    ("orders weekly", {"source_name": "orders", "schedule": "@weekly"}),
    # Formats.
    ("orders as parquet", {"source_name": "orders", "format": "parquet"}),
    ("orders in json", {"source_name": "orders", "format": "json"}),
    ("orders as ndjson files", {"source_name": "orders", "format": "jsonl"}),
    ("orders as a spreadsheet", {"source_name": "orders", "format": "csv"}),
    ("orders as an html report", {"source_name": "orders", "report": "html"}),
    ("orders to markdown", {"source_name": "orders", "format": "md"}),
    # Time ranges.
    (
        "orders from yesterday",
        {"source_name": "orders", "since": local(2025, 6, 14), "until": local(2025, 6, 15)},
    ),
    (
        "orders today",
        {"source_name": "orders", "since": local(2025, 6, 15), "until": local(2025, 6, 16)},
    ),
    ("orders this month", {"source_name": "orders", "since": local(2025, 6, 1)}),
    (
        "orders last year",
        {"source_name": "orders", "since": local(2024, 1, 1), "until": local(2025, 1, 1)},
    ),
    (
        "orders last week",
        {"source_name": "orders", "since": local(2025, 6, 2), "until": local(2025, 6, 9)},
    ),
    (
        "orders in March 2024",
        {"source_name": "orders", "since": local(2024, 3, 1), "until": local(2024, 4, 1)},
    ),
    ("orders since September", {"source_name": "orders", "since": local(2024, 9, 1)}),
    ("orders before 2024", {"source_name": "orders", "until": local(2024, 1, 1)}),
    ("orders since 2025-02-10", {"source_name": "orders", "since": local(2025, 2, 10)}),
    (
        "orders since January until April",
        {"source_name": "orders", "since": local(2025, 1, 1), "until": local(2025, 4, 1)},
    ),
    (
        "orders from the past two weeks",
        {"source_name": "orders", "since": datetime(2025, 6, 1, 8, 0, tzinfo=UTC)},
    ),
    # "last N months/years" rolls like "last 7 days": it ran from the calendar month N
    # back with no end, so "last 1 year" was almost two years (since 1 January 2024).
    (
        "orders from the last 3 months",
        {"source_name": "orders", "since": local(2025, 3, 15, 10, 0)},
    ),
    (
        "orders from the last 12 months",
        {"source_name": "orders", "since": local(2024, 6, 15, 10, 0)},
    ),
    ("orders from the last 1 year", {"source_name": "orders", "since": local(2024, 6, 15, 10, 0)}),
    (
        "orders from March to May",
        {"source_name": "orders", "since": local(2025, 3, 1), "until": local(2025, 6, 1)},
    ),
    (
        "orders between 2023 and 2024",
        {"source_name": "orders", "since": local(2023, 1, 1), "until": local(2025, 1, 1)},
    ),
    (
        "orders between 2024-12-24 and 2024-12-31",
        {"source_name": "orders", "since": local(2024, 12, 24), "until": local(2025, 1, 1)},
    ),
    # Privacy and encryption.
    ("messages anonymized", {"source_name": "messages", "privacy": "strict"}),
    ("messages with basic privacy", {"source_name": "messages", "privacy": "basic"}),
    ("messages strict privacy", {"source_name": "messages", "privacy": "strict"}),
    ("messages without pii", {"source_name": "messages", "privacy": "strict"}),
    ("raw messages", {"source_name": "messages", "privacy": "none"}),
    ("orders encrypted with a passphrase", {"source_name": "orders", "encryption": "passphrase"}),
    ("password protected orders", {"source_name": "orders", "encryption": "passphrase"}),
    # Templates.
    ("back up all orders", {"source_name": "orders", "template": "backup"}),
    ("full backup of orders", {"source_name": "orders", "template": "backup"}),
    # Schedules.
    ("orders nightly", {"source_name": "orders", "schedule": "0 2 * * *"}),
    ("orders daily", {"source_name": "orders", "schedule": "@daily"}),
    ("orders every day at 14:30", {"source_name": "orders", "schedule": "30 14 * * *"}),
    ("orders every night at 11", {"source_name": "orders", "schedule": "0 23 * * *"}),
    # A bare hour is read in the part of the day named: "evening at 8" was 08:00 and
    # "night at 12" noon.
    ("orders every night at 10:30", {"source_name": "orders", "schedule": "30 22 * * *"}),
    ("orders every night at 12", {"source_name": "orders", "schedule": "0 0 * * *"}),
    ("orders every night at 2", {"source_name": "orders", "schedule": "0 2 * * *"}),
    ("orders every night at 11 am", {"source_name": "orders", "schedule": "0 11 * * *"}),
    ("orders every evening at 8", {"source_name": "orders", "schedule": "0 20 * * *"}),
    ("orders every evening at 10:30", {"source_name": "orders", "schedule": "30 22 * * *"}),
    ("orders every evening at 18:15", {"source_name": "orders", "schedule": "15 18 * * *"}),
    ("orders every morning at 8", {"source_name": "orders", "schedule": "0 8 * * *"}),
    ("orders every monday at 3am", {"source_name": "orders", "schedule": "0 3 * * 1"}),
    ("orders every week on friday at 6 pm", {"source_name": "orders", "schedule": "0 18 * * 5"}),
    ("orders monthly", {"source_name": "orders", "schedule": "@monthly"}),
    ("orders every hour", {"source_name": "orders", "schedule": "@hourly"}),
    # Sources by name and by description.
    ("job postings", {"source_name": "job_postings"}),
    ("chats with my mentors", {"source_name": "messages"}),
    (
        "what the customers bought from the shop",
        {"source_name": "orders", "unparsed": ("what", "bought")},
    ),
    # Words not understood are named, never dropped.
    ("orders as csv pronto", {"source_name": "orders", "format": "csv", "unparsed": ("pronto",)}),
    ("frobnicate the widgets", {"unparsed": ("frobnicate", "widgets")}),
    ("orders as excel", {"source_name": "orders", "unparsed": ("excel",)}),
    ("orders every fortnight", {"source_name": "orders", "unparsed": ("fortnight",)}),
    # ... in any script: a word outside ASCII was dropped, so "without personal data" in
    # Russian asked for nothing and ran unredacted.
    (
        "orders as csv без личных данных",
        {"source_name": "orders", "format": "csv", "unparsed": ("без", "личных", "данных")},
    ),
    (
        "orders as csv 匿名化して",
        {"source_name": "orders", "format": "csv", "unparsed": ("匿名化して",)},
    ),
    (
        "orders as csv ohne persönliche Daten",
        {"source_name": "orders", "format": "csv", "unparsed": ("ohne", "persönliche", "daten")},
    ),
    ("orders as csv 🙈", {"source_name": "orders", "format": "csv", "unparsed": ("🙈",)}),
    (
        "orders as csv, nur für Max",
        {"source_name": "orders", "format": "csv", "unparsed": ("nur", "für", "max")},
    ),
    # Digits of other scripts are words, not numbers or years.
    ("orders from the last ٣ days", {"source_name": "orders", "unparsed": ("last", "٣", "days")}),
    # Punctuation separates words, as it did; fullwidth letters are the letters.
    ("Orders, as CSV — please!", {"source_name": "orders", "format": "csv"}),
    ("orders \uff41\uff53 \uff43\uff53\uff56", {"source_name": "orders", "format": "csv"}),
    ("orders every day at 2 o\u2019clock", {"source_name": "orders", "schedule": "0 2 * * *"}),
]

REFUSED: list[tuple[str, str]] = [
    ("delete all my orders", "only exports"),
    ("remove messages from last month", "only exports"),
    ("orders as csv as parquet", "two formats"),
    ("orders daily weekly", "two schedules"),
    ("orders sanitized without pii", "two privacy levels"),
    ("orders since 2025 before 2024", "empty time range"),
    ("orders between 2025 and 2023", "empty time range"),
    ("orders every day at 25", "not a time of day"),
    ("orders every evening at 12", "say 'at noon' or 'at midnight'"),
    ("", "nothing to export"),
    ("   ...  ", "nothing to export"),
    ("what I sent and scraped", "could mean source"),
    # Numbers past any date (OverflowError / ValueError inside): were INTERNAL.
    ("orders from the last 99999999 days", "out of any date range"),
    ("orders from the last 5000 years", "out of any date range"),
    # A GDPR request is one person's data: only a subject package selects it. The
    # template alone exported everyone's rows with their identity columns kept.
    ("my data for GDPR", "sluice gdpr package --subject"),
    ("orders for a GDPR request", "sluice gdpr package --subject"),
    ("people for gdpr request as csv", "sluice gdpr package --subject"),
    ("orders for a subject access request", "sluice gdpr package --subject"),
    ("orders for a data access request", "sluice gdpr package --subject"),
    ("a DSAR of orders", "sluice gdpr package --subject"),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[text for text, _ in CASES])
def test_phrasings_give_their_plans(text: str, expected: dict[str, Any]) -> None:
    plan = parse_request(text, NOW, SOURCES)
    assert plan == TextPlan(**expected)


@pytest.mark.parametrize(("text", "reason"), REFUSED, ids=[text or "empty" for text, _ in REFUSED])
def test_phrasings_that_are_refused(text: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_request(text, NOW, SOURCES)
    assert [v.field for v in caught.value.violations] == ["text"]
    assert reason in caught.value.message


def test_the_table_is_big_enough() -> None:
    assert len(CASES) + len(REFUSED) >= 40


def test_understood_phrases_are_reported_in_order() -> None:
    plan = parse_request("Download my job applications from last month as CSV", NOW, SOURCES)
    assert plan.understood == ("last month", "as csv")


def test_no_sources_leaves_source_words_unparsed() -> None:
    plan = parse_request("my job applications as csv", NOW)
    assert (plan.source_name, plan.format, plan.unparsed) == ("", "csv", ("job", "applications"))


def test_a_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        parse_request("orders", datetime(2025, 1, 1), SOURCES)


AUDIT_SOURCES = (
    NamedSource("access_log", "Data access audit log"),
    NamedSource("orders", "Customer orders"),
    NamedSource("gdpr_requests", "Requests received under the GDPR"),
)


@pytest.mark.parametrize(
    ("text", "source"),
    [
        # Words a GDPR request shares with ordinary ones: "data access", "data subject".
        ("export the data access log from yesterday", "access_log"),
        ("data access log as csv", "access_log"),
        ("orders data subject to approval", "orders"),
        # "gdpr" as a named source's own word asks for that source.
        ("export the gdpr requests", "gdpr_requests"),
    ],
)
def test_ordinary_requests_sharing_words_with_a_gdpr_request_are_read(
    text: str, source: str
) -> None:
    assert parse_request(text, NOW, AUDIT_SOURCES).source_name == source


@pytest.mark.parametrize(
    "text",
    [
        "orders for a subject access request",
        "access log for a data subject request",
        "access log for a data access request",
        "orders under my right of access",
        "orders for GDPR",
        "a DSAR of orders",
    ],
)
def test_unambiguous_gdpr_requests_are_refused_whatever_the_sources(text: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_request(text, NOW, AUDIT_SOURCES)
    assert [v.field for v in caught.value.violations] == ["text"]
    assert "sluice gdpr package --subject" in caught.value.message


@pytest.mark.parametrize("joiner", ["\u200b", "\u00ad", "\u2060", "\ue000"])
def test_an_invisible_character_inside_a_word_keeps_it_one_unread_word(joiner: str) -> None:
    """ "no<ZWSP>redaction" was read as "no redaction" and exported without redaction."""
    plan = parse_request(f"orders no{joiner}redaction", NOW, SOURCES)
    assert (plan.privacy, plan.unparsed) == ("", (f"no{joiner}redaction",))
    plan = parse_request(f"orders with{joiner}out pii", NOW, SOURCES)
    assert plan.privacy == "" and f"with{joiner}out" in plan.unparsed


def test_invisible_characters_between_words_still_separate_them() -> None:
    plan = parse_request("orders \u200fwithout pii\u200e", NOW, SOURCES)
    assert (plan.source_name, plan.privacy, plan.unparsed) == ("orders", "strict", ())


def test_months_back_end_on_the_shorter_month_s_last_day() -> None:
    end_of_march = datetime(2025, 3, 31, 10, 0, tzinfo=MADRID)
    plan = parse_request("orders from the last 1 month", end_of_march, SOURCES)
    assert plan.since == local(2025, 2, 28, 10, 0)
