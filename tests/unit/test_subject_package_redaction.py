"""The `gdpr` template's redaction on a subject's rows: only the subject's own identifier
columns (by exact name) are kept; secrets and free text named like them are not."""

from __future__ import annotations

import fnmatch

import polars as pl

from sluice.server.pipeline.redaction.column_categories import COLUMN_CATEGORIES
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
