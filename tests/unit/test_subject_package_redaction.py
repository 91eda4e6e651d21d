"""The `gdpr` template's redaction on a subject's rows: only the subject's own identifier
columns (by exact name) are kept; secrets and free text named like them are not."""

from __future__ import annotations

import fnmatch

import polars as pl

from sluice.server.pipeline.redaction.column_categories import COLUMN_CATEGORIES
from sluice.server.planning.spec import RedactionRuleSpec, RedactionSpec
from sluice.server.templates import SUBJECT_OWN_COLUMNS, SUBJECT_PACKAGE_REDACTION
from tests.unit.redaction_helpers import run

OTHER_EMAIL = "bob@other.example"


def test_only_own_identifier_columns_are_kept_secrets_and_text_are_redacted() -> None:
    frame = pl.DataFrame(
        {
            "user_id": [42],
            "Email": ["me@subject.example"],
            "email_reset_token": ["tok-3f9a1c"],
            "email_body": [f"Please forward this to {OTHER_EMAIL} today"],
            "cc_emails": [[OTHER_EMAIL]],
            "address_book": [f"Bob {OTHER_EMAIL}"],
        }
    )
    out, _ = run(frame, SUBJECT_PACKAGE_REDACTION)
    row = out.row(0, named=True)
    assert row["Email"] == "me@subject.example"  # the subject's own, kept (any case)
    assert row["email_reset_token"] != "tok-3f9a1c"  # a secret stays redacted
    # Named like an e-mail column but not the subject's own: `moderate` takes it.
    assert OTHER_EMAIL not in row["email_body"]
    assert OTHER_EMAIL not in str(row["cc_emails"])
    assert OTHER_EMAIL not in row["address_book"]


def test_no_kept_column_name_is_a_secret_one() -> None:
    secret = next(c for c in COLUMN_CATEGORIES if c.name == "SECRET")
    assert not [
        name
        for name in SUBJECT_OWN_COLUMNS
        if any(fnmatch.fnmatchcase(name, glob) for glob in secret.globs)
    ]


def test_nested_fields_named_like_own_columns_are_other_peoples_and_redacted() -> None:
    """`referee.email` in the subject's row is someone else's; a request's own dotless
    rule still names a field at any depth, as documented."""
    frame = pl.DataFrame(
        {
            "email": ["me@subject.example"],
            "name": ["Ana Garcia"],
            "referee": [{"name": "Zed Other", "email": OTHER_EMAIL, "address": "1 Lane"}],
            "contacts": [[{"full_name": "Zed Other", "phone": "+44 20 7946 0958"}]],
        }
    )
    out, _ = run(frame, SUBJECT_PACKAGE_REDACTION)
    row = out.row(0, named=True)
    assert (row["email"], row["name"]) == ("me@subject.example", "Ana Garcia")
    assert row["referee"] == {"name": "[REDACTED]", "email": "[EMAIL]", "address": "[REDACTED]"}
    assert row["contacts"] == [{"full_name": "[REDACTED]", "phone": "[PHONE]"}]
    requested = RedactionSpec(
        level="moderate", rules=(RedactionRuleSpec(column="email", action="keep"),)
    )
    kept, _ = run(frame, requested)
    assert kept.row(0, named=True)["referee"]["email"] == OTHER_EMAIL


def test_the_subjects_own_top_level_list_columns_are_kept_nested_lists_are_not() -> None:
    """A list column named like an own column (`mobile: ["+44 …"]`) is the subject's own,
    kept whole; a field of a list of structs (`contacts[].email`) is someone else's."""
    frame = pl.DataFrame(
        {
            "email": ["me@subject.example"],
            "mobile": [["+44 20 7946 0333", "+44 20 7946 0444"]],
            "name": [["Ana", "Garcia"]],
            "contacts": [[{"email": OTHER_EMAIL, "name": "Zed Other"}]],
        }
    )
    out, _ = run(frame, SUBJECT_PACKAGE_REDACTION)
    row = out.row(0, named=True)
    assert row["mobile"] == ["+44 20 7946 0333", "+44 20 7946 0444"]
    assert row["name"] == ["Ana", "Garcia"]
    assert row["contacts"] == [{"email": "[EMAIL]", "name": "[REDACTED]"}]
