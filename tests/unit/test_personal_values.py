"""A spec as a caller who may not see the people it names is shown it (a schedule's, to a
reader without admin): subject id, SQL literals and ids hidden, the rest as it is."""

from __future__ import annotations

from sluice.server.planning.spec import (
    DestinationSpec,
    ExportSpec,
    QuerySpec,
    SourceSpec,
    SubjectSpec,
)
from sluice.server.service.personal_values import without_personal_values

PLAIN = ExportSpec(
    source=SourceSpec(uri="file:///data/orders.parquet"),
    destination=DestinationSpec(uri="file:///exports/orders", dataset="orders"),
    query=QuerySpec(columns=("id", "amount"), id_column="order_id"),
    labels=(("team", "sales"),),
)


def test_a_spec_naming_no_one_is_shown_as_it_is() -> None:
    assert without_personal_values(PLAIN) == PLAIN


def test_the_subject_id_sql_literals_and_ids_are_hidden() -> None:
    spec = ExportSpec(
        source=SourceSpec(
            uri="sqlite:///data/people.db",
            query="SELECT * FROM people WHERE phone = '+44 20 7946 0958' -- ticket 991",
            order_by=("id",),
        ),
        destination=PLAIN.destination,
        query=QuerySpec(
            where='email = \'alice@example.com\' AND "name" = "Alice" AND id > 0x2a',
            ids=("alice@example.com", "bob@example.com", "carol@example.com"),
            id_column="email",
        ),
    )
    shown = without_personal_values(spec)
    assert shown.source.query == "SELECT * FROM people WHERE phone = ? "  # comment dropped
    assert shown.source.order_by == ("id",)
    # Double-quoted tokens too: SQLite reads one naming no column as a string.
    assert shown.query.where == "email = ? AND ? = ? AND id > ?"
    assert shown.query.ids == ("?", "?", "?") and shown.query.id_column == "email"
    assert shown.destination == spec.destination


def test_a_packages_subject_id_is_hidden_its_sources_shown() -> None:
    spec = ExportSpec(
        source=SourceSpec(uri=""),
        destination=PLAIN.destination,
        subject=SubjectSpec("alice@example.com", ("orders", "messages")),
        template="gdpr",
    )
    shown = without_personal_values(spec)
    assert shown.subject == SubjectSpec("?", ("orders", "messages"))
    assert shown.template == "gdpr"
    assert "alice" not in shown.to_json()
