"""What each level looks for by name: column categories, matched against a column's or
nested field's own name, whatever its content (content entities are in entities.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class ColumnCategory:
    """Columns whose name says what they hold, whatever their content."""

    name: str
    level: str
    #: Case-insensitive globs matched against a column's or nested field's own name, as
    #: spelled and in snake case (column_names.normalised: `Zip Code`, `postalCode` read
    #: `zip_code`, `postal_code`), so globs are written in snake case. A new glob must not
    #: take ordinary columns: tests/unit/test_redaction_column_names.py lists look-alikes
    #: (`file_name`, `hostname`, `username`, `gzip`, ...) that must stay unmatched.
    globs: tuple[str, ...]
    action: str = "redact"
    keep_last: int = 0
    granularity: str = ""
    #: Last words of a (snake case) name that make it a flag, counter, timestamp or
    #: provenance about the category rather than its value (`dob_verified`,
    #: `birthday_count`, `latitude_updated_at`): the default leaves such a column alone.
    not_values: frozenset[str] = frozenset()


#: What a DOB or GEO column named after its category but holding no date or coordinate
#: ends with. Only for the defaults that generalise: they would null such a value.
_ABOUT_THE_VALUE: Final = frozenset(
    {"at", "on", "count", "source", "sent", "flag", "known", "estimated", "verified", "reminder"}
)


# When several categories match one name, the one whose action leaves least wins
# (redact over mask or generalise: "bank_account_password" is SECRET, not IBAN; see
# redactor._STRENGTH), and among equals the later one ("email_address" is EMAIL, not
# ADDRESS; "ip_address" is IP).
COLUMN_CATEGORIES: Final = (
    ColumnCategory(
        "SECRET",
        "basic",
        (
            "*password*",
            "*passwd*",
            "pwd",
            "*_pwd",
            "*secret*",
            "*token*",
            "*api_key*",
            "*apikey*",
            "*private_key*",
            "*credential*",
            "*access_key*",
        ),
    ),
    ColumnCategory(
        "ADDRESS",
        "strict",
        (
            "address",
            "*_address",
            "address_*",
            "street*",
            "*_street",
            "postal_code",
            "*_postal_code",
            "post_code",
            "postcode",
            "*_postcode",
            "zip",
            "zip_code",
            "*_zip_code",
            "zipcode",
            "*_zip",
        ),
    ),
    ColumnCategory("EMAIL", "moderate", ("email", "*email*", "*e_mail*", "mail")),
    ColumnCategory(
        "PHONE",
        "moderate",
        (
            "phone",
            "*phone*",
            "mobile",
            "*mobile*",
            "tel",
            "*_tel",
            "tel_no",
            "tel_nr",
            "tel_number",
            "*_tel_no",
            "*_tel_nr",
            "*_tel_number",
            "telephone",
            # German and Spanish; never `*telefon*`, which takes `telefonica_id`.
            "telefon",
            "telefon_*",
            "*_telefon",
            "*telefonnummer*",
            "telefono*",
            "*_telefono*",
            "fax",
            "fax_no",
            "fax_number",
            "*msisdn*",
        ),
    ),
    ColumnCategory(
        "NAME",
        "strict",
        (
            "name",
            "first_name",
            "firstname",
            "last_name",
            "lastname",
            "middle_name",
            "full_name",
            "fullname",
            "surname",
            "given_name",
            "family_name",
            "maiden_name",
            "*_first_name",
            "*_last_name",
            "*_full_name",
            "*_surname",
            "forename",
            "*_given_name",
            "*_family_name",
            # Whose name it is, where that is a person; never `*_name` (`file_name`,
            # `host_name`, `table_name`), nor `user_name` (an account's handle).
            "customer_name",
            "client_name",
            "contact_name",
            "patient_name",
            "employee_name",
            "person_name",
            "member_name",
            "holder_name",
            "*_holder_name",
            "cardholder_name",
            "*_cardholder_name",
        ),
    ),
    ColumnCategory(
        "DOB",
        "strict",
        (
            "dob",
            "*_dob",
            "dob_*",
            "*date_of_birth*",
            "*birth_date*",
            "*birthdate*",
            "birthday",
            "birthday_*",
            "*_birthday",
        ),
        action="generalize",
        granularity="year",
        not_values=_ABOUT_THE_VALUE,
    ),
    ColumnCategory(
        "NATIONAL_ID",
        "strict",
        (
            "ssn",
            "*_ssn",
            "ssn_*",
            "*national_id*",
            "nino",
            "dni",
            "nie",
            "nif",
            "passport*",
            "*tax_id*",
            "*social_security*",
            "*national_insurance*",
        ),
    ),
    ColumnCategory(
        "CARD",
        "strict",
        ("*card_number*", "cc_number", "*credit_card*", "pan"),
        action="mask",
        keep_last=4,
    ),
    ColumnCategory(
        "IBAN",
        "strict",
        (
            "iban",
            "*_iban",
            "iban_*",
            "*account_number*",
            "account_no",
            "*_account_no",
            "acct_no",
            "*_acct_no",
            "bank_account*",
        ),
        action="mask",
        keep_last=4,
    ),
    ColumnCategory("IP", "strict", ("ip", "*_ip", "ip_*", "*ip_address*", "remote_addr")),
    ColumnCategory("MAC_ADDRESS", "strict", ("mac", "*mac_address*")),
    ColumnCategory(
        "GEO",
        "strict",
        (
            "lat",
            "latitude",
            "lon",
            "lng",
            "longitude",
            "*_lat",
            "*_lon",
            "*_lng",
            "*latitude*",
            "*longitude*",
        ),
        action="generalize",
        granularity="0.1",
        not_values=_ABOUT_THE_VALUE,
    ),
)
