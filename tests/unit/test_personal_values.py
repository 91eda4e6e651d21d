"""A spec as a caller who may not see the people it names is shown it (a schedule's, to a
reader without admin): subject id, SQL literals, ids and e-mail notify targets hidden,
the rest as it is; its last error reduced to the field it names."""

from __future__ import annotations

from dataclasses import replace

from sluice.server.planning.spec import (
    DestinationSpec,
    EncryptionSpec,
    ExportSpec,
    QuerySpec,
    RedactionRuleSpec,
    RedactionSpec,
    SourceSpec,
    SubjectSpec,
)
from sluice.server.service.personal_values import (
    HIDDEN_ERROR,
    error_without_values,
    location_root,
    without_personal_values,
)

#: An age recipient: a public key, maybe the subject's own.
AGE = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"

PLAIN = ExportSpec(
    source=SourceSpec(uri="file:///data/orders.parquet"),
    destination=DestinationSpec(uri="file:///exports/orders", dataset="orders"),
    query=QuerySpec(columns=("id", "amount"), id_column="order_id"),
    labels=(("team", "sales"),),
)


def test_a_spec_naming_no_one_is_shown_but_its_locations_dataset_and_label_values() -> None:
    # Those may be built per person; the rest of a spec naming no one is shown as it is.
    assert without_personal_values(PLAIN) == replace(
        PLAIN,
        source=SourceSpec(uri="file:///data/…"),
        destination=DestinationSpec(uri="file:///exports/…", dataset="?"),
        labels=(("team", "?"),),
    )


def test_locations_built_per_person_keep_only_their_root() -> None:
    """A package schedule writing to a folder per subject, labelled with the subject,
    encrypting to the subject's own age key: a reader sees none of them (ListSchedules,
    GetSchedule as a non-admin)."""
    spec = ExportSpec(
        source=SourceSpec(uri="s3://uploads/people/alice.smith/profile.parquet"),
        destination=DestinationSpec(
            uri="/exports/dsar/alice.smith@example.com/", dataset="alice-smith"
        ),
        labels=(("subject", "alice.smith@example.com"), ("team", "privacy")),
        encryption=EncryptionSpec(
            age_recipients=(AGE,), age_passphrase_ref="", zip_password_ref="gdpr"
        ),
    )
    shown = without_personal_values(spec)
    assert shown.source.uri == "s3://uploads/…"
    assert (shown.destination.uri, shown.destination.dataset) == ("/exports/…", "?")
    assert shown.labels == (("subject", "?"), ("team", "?"))
    assert shown.encryption == EncryptionSpec(age_recipients=("?",), zip_password_ref="gdpr")
    assert "alice" not in shown.to_json() and AGE not in shown.to_json()


def test_location_root() -> None:
    cases = {
        "": "",
        "/exports": "/exports",
        "/exports/": "/exports/",
        "/srv/exports/alice": "/srv/…",
        "exports/alice": "exports/…",
        "file:///srv/exports/alice": "file:///srv/…",
        "s3://lake": "s3://lake",
        "s3://lake/": "s3://lake/",
        "s3://lake/people/alice/": "s3://lake/…",
        "s3://AKIAKEY:secret@lake/alice": "s3://(credentials removed)@lake/…",
        "az://container@acct.blob.core.windows.net/people/bob": (
            "az://container@acct.blob.core.windows.net/…"
        ),
        "postgresql://db.internal:5432/crm?sslmode=require": "postgresql://db.internal:5432/…",
    }
    assert {uri: location_root(uri) for uri in cases} == cases


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
    assert shown.destination == without_personal_values(PLAIN).destination


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


def test_notify_targets_are_shown_without_addresses_and_url_tokens() -> None:
    """A mailto: target is someone's address and a webhook URL's path or query may hold
    one (or the receiver's token): shown as `mailto:?` and as GetExport shows URLs."""
    spec = replace(
        PLAIN,
        notify=(
            "mailto:alice@example.com",
            "https://hooks.example.com/for/bob@example.com?to=carol@example.com",
            "http://127.0.0.1:8080/",
            "ops",
        ),
    )
    shown = without_personal_values(spec)
    assert shown.notify == (
        "mailto:?",
        "https://hooks.example.com/…",
        "http://127.0.0.1:8080/",
        "ops",
    )
    assert "@" not in shown.to_json()


def test_a_last_error_keeps_only_the_field_it_names() -> None:
    """A planning error may repeat the request's literals (the temporal hint quotes the
    where): only the field is kept."""
    quoting = (
        "spec.query.where: write dates and times as typed literals, e.g. dob >= DATE "
        "'1990-04-01' ('1990-04-01' in quotes is text, and 1990-04-01 without them is "
        "arithmetic); or filter with the time range (--time-column, --since, --until)"
    )
    assert error_without_values(quoting) == f"spec.query.where: {HIDDEN_ERROR}"
    assert error_without_values("spec.labels[team]: value longer than 256") == (
        f"spec.labels[team]: {HIDDEN_ERROR}"
    )
    # No field named: nothing of the message is kept.
    for message in (
        "the package's sources changed since it was created (source 'alice' unknown)",
        "alice@example.com: no such thing",
    ):
        assert error_without_values(message) == HIDDEN_ERROR
    assert error_without_values("") == ""


def test_a_custom_rule_pattern_is_hidden_a_built_in_entity_shown() -> None:
    # A rule aimed at one person names them as a where literal does (second review of
    # the job store's forgetting: the schedule view once showed such a pattern).
    spec = replace(
        PLAIN,
        redaction=RedactionSpec(
            level="moderate",
            rules=(
                RedactionRuleSpec(pattern=r"bob\.smith@example\.com", action="redact"),
                RedactionRuleSpec(pattern="EMAIL", action="hash"),
                RedactionRuleSpec(column="notes", action="redact"),
            ),
        ),
    )
    rules = without_personal_values(spec).redaction.rules
    assert [r.pattern for r in rules] == ["?", "EMAIL", ""]
    assert [r.action for r in rules] == ["redact", "hash", "redact"]
