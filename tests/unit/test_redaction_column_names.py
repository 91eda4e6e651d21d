"""Column names as CSV and database headers spell them (`Date of Birth`, `dateOfBirth`,
`Zip Code`) are matched by the level defaults; ordinary look-alikes are not."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from sluice.server.pipeline.redaction.column_names import normalised
from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import rule, run

STRICT = RedactionSpec(level="strict")
MODERATE = RedactionSpec(level="moderate")


@pytest.mark.parametrize(
    ("name", "snake"),
    [
        ("Date of Birth", "date_of_birth"),
        ("dateOfBirth", "date_of_birth"),
        ("date-of-birth", "date_of_birth"),
        ("DATE_OF_BIRTH", "date_of_birth"),
        ("E-Mail", "e_mail"),
        ("postalCode", "postal_code"),
        ("  Zip  Code ", "zip_code"),
        ("taxID", "tax_id"),
        ("UserIPAddress", "user_ip_address"),
        ("HTTPStatus", "http_status"),
        ("owner.Last Name", "owner_last_name"),
        ("first__name", "first_name"),
        ("GZip", "gzip"),
        ("First Name*", "first_name"),
        ("Last Name:", "last_name"),
        ("SSN#", "ssn"),
        ("DOB?", "dob"),
        ("D.O.B.", "dob"),
        ("D.O.B", "dob"),
        ("Zip Code (5)", "zip_code"),
        ("Zip/Postal Code", "zip_postal_code"),
        ("IBANNumber", "iban_number"),
        ("AcctNo", "acct_no"),
        ("e_mail", "e_mail"),
        ("hostname", "hostname"),
        # Read as they show: compatibility forms folded, invisible characters left out.
        ("\uff45\uff4d\uff41\uff49\uff4c", "email"),
        ("\uff24\uff41\uff54\uff45 of Birth", "date_of_birth"),
        ("pass\u200bword", "password"),
        ("e\u00admail", "email"),
        ("\u200fssn\u200e", "ssn"),
        ("first\u2060Name", "first_name"),
    ],
)
def test_a_name_reads_in_snake_case(name: str, snake: str) -> None:
    assert normalised(name) == snake


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("Date of Birth", "1990-05-06", "1990"),
        ("dateOfBirth", "1990-05-06", "1990"),
        ("date-of-birth", "06/05/1990", "1990"),
        ("dob_int", "1990-05-06", "1990"),
        ("Last Name", "Doe", "[NAME]"),
        ("Full Name", "Joe Doe", "[NAME]"),
        ("First Name", "Joe", "[NAME]"),
        ("customer_name", "Joe Doe", "[NAME]"),
        ("CustomerName", "Joe Doe", "[NAME]"),
        ("account_holder_name", "Joe Doe", "[NAME]"),
        ("Zip Code", "12345", "[ADDRESS]"),
        ("Postal Code", "12345", "[ADDRESS]"),
        ("postalCode", "12345", "[ADDRESS]"),
        ("billing_zip_code", "12345", "[ADDRESS]"),
        ("Account Number", "31926819", "****6819"),
        ("accountNumber", "31926819", "****6819"),
        ("taxId", "X123", "[NATIONAL_ID]"),
        ("nationalId", "X123", "[NATIONAL_ID]"),
        ("social security number", "078051120", "[NATIONAL_ID]"),
        ("SSN", "078051120", "[NATIONAL_ID]"),
        ("First Name*", "Joe", "[NAME]"),
        ("Last Name:", "Doe", "[NAME]"),
        ("Surname*", "Doe", "[NAME]"),
        ("Postal Code*", "12345", "[ADDRESS]"),
        ("Zip Code (5)", "12345", "[ADDRESS]"),
        ("Zip/Postal Code", "12345", "[ADDRESS]"),
        ("SSN#", "078051120", "[NATIONAL_ID]"),
        ("DOB?", "1990-05-06", "1990"),
        ("D.O.B.", "1990-05-06", "1990"),
        ("D.O.B", "1990-05-06", "1990"),
        ("IBANNumber", "31926819", "****6819"),
        ("ibanNumber", "31926819", "****6819"),
        ("AcctNo", "31926819", "****6819"),
        ("Fax No", "0301234567", "[PHONE]"),
        ("fax_number", "0301234567", "[PHONE]"),
        # Matched before too: the same matching, now general.
        ("firstName", "Joe", "[NAME]"),
        ("birthDate", "1990-05-06", "1990"),
        ("Phone Number", "0301234567", "[PHONE]"),
        # A full-width or invisibly split header is the name it shows.
        ("\uff33\uff33\uff2e", "078051120", "[NATIONAL_ID]"),
        ("last\u200bname", "Doe", "[NAME]"),
        ("Date\u00adOf\u00adBirth", "1990-05-06", "1990"),
    ],
)
def test_header_spellings_are_matched_at_strict(name: str, value: str, expected: str) -> None:
    out, _ = run(pl.DataFrame({name: [value]}), STRICT)
    assert out[name].to_list() == [expected]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("E-Mail", "joe", "[EMAIL]"),
        ("eMailAddress", "joe", "[EMAIL]"),
        ("Telefon", "0301234567", "[PHONE]"),
        ("Telefonnummer", "0301234567", "[PHONE]"),
        ("kunde_telefonnummer", "0301234567", "[PHONE]"),
        ("telefon_privat", "0301234567", "[PHONE]"),
        ("kunde_telefon", "0301234567", "[PHONE]"),
        ("telefono_movil", "0301234567", "[PHONE]"),
        ("numero_telefono", "0301234567", "[PHONE]"),
        ("tel_no", "0301234567", "[PHONE]"),
        ("Tel. Nr.", "0301234567", "[PHONE]"),
        ("contact_tel_number", "0301234567", "[PHONE]"),
        ("\uff45\uff4d\uff41\uff49\uff4c", "joe", "[EMAIL]"),
        ("\uff34\uff45\uff4c\uff45\uff46\uff4f\uff4e", "0301234567", "[PHONE]"),
    ],
)
def test_contact_spellings_are_matched_at_moderate(name: str, value: str, expected: str) -> None:
    out, _ = run(pl.DataFrame({name: [value]}), MODERATE)
    assert out[name].to_list() == [expected]


def test_a_datetime_birthday_column_becomes_its_year() -> None:
    frame = pl.DataFrame({"birthday_ts": [dt.datetime(1990, 5, 6, 7, 8)]})
    out, _ = run(frame, STRICT)
    assert out["birthday_ts"].to_list() == ["1990"]


FULL_WIDTH_PASSWORD = "\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44"


@pytest.mark.parametrize("name", ["pass\u200bword", FULL_WIDTH_PASSWORD, "api\u2060key"])
def test_a_secret_column_named_invisibly_apart_is_a_secret_at_basic(name: str) -> None:
    out, _ = run(pl.DataFrame({name: ["hunter2"]}), RedactionSpec(level="basic"))
    assert out[name].to_list() == ["[SECRET]"]


#: Ordinary columns that look like a category's names: they must stay as they are.
LOOK_ALIKES = (
    "file_name",
    "fileName",
    "File Name",
    "hostname",
    "host_name",
    "username",
    "user_name",
    "UserName",
    "table_name",
    "product_name",
    "display_name",
    "placeholder_name",
    "nameserver",
    "rename_count",
    "Hotel Name",
    "gzip",
    "GZip",
    "zip_file",
    "tooltip",
    "ToolTip",
    "telemetry",
    "hotel",
    "birth_place",
    "birth_year",
    "account_id",
    "accountType",
    "mailbox_size",
    "HTTPStatus",
    "status_code",
    "country_code",
    "ship_date",
    "telefonica_id",
    "TelefonicaId",
)


@pytest.mark.parametrize("name", LOOK_ALIKES)
def test_look_alike_names_stay_unmatched(name: str) -> None:
    out, counts = run(pl.DataFrame({name: ["alpha"]}), STRICT)
    assert out[name].to_list() == ["alpha"]
    assert counts == {}


def test_a_request_rule_names_the_column_as_spelled() -> None:
    frame = pl.DataFrame({"Date of Birth": ["1990-05-06"]})
    out, _ = run(frame, RedactionSpec(level="strict", rules=[rule("column=Date of Birth:keep")]))
    assert out["Date of Birth"].to_list() == ["1990-05-06"]
