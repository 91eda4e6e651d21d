"""When several level defaults match one column name, the strongest action wins: a
secret beside a card or account word (`bank_account_password`, `creditCardToken`) is
redacted whole, never masked with its last characters in clear."""

from __future__ import annotations

import polars as pl
import pytest

from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import run

STRICT = RedactionSpec(level="strict")
SECRET = "hunter2-s3cr3tPW-9fQz"


@pytest.mark.parametrize(
    "name",
    [
        "bank_account_password",
        "bankAccountPassword",
        "BankAccountSecret",
        "bank_account_secret",
        "bankAccountApiKey",
        "bank_account_api_key",
        "accountNumberToken",
        "account_number_token",
        "creditCardToken",
        "credit_card_token",
        "card_number_secret",
        "iban_password",
        "ibanApiKey",
    ],
)
def test_a_secret_beside_a_card_or_account_word_is_redacted_whole(name: str) -> None:
    out, counts = run(pl.DataFrame({name: [SECRET]}), STRICT)
    assert out[name].to_list() == ["[SECRET]"]
    assert counts


def test_a_card_or_account_column_is_still_masked() -> None:
    frame = pl.DataFrame({"card_number": ["4111111111111111"], "accountNumber": ["31926819"]})
    out, _ = run(frame, STRICT)
    assert out.row(0) == ("************1111", "****6819")
