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
    #: Case-insensitive globs matched against a column's or nested field's own name.
    globs: tuple[str, ...]
    action: str = "redact"
    keep_last: int = 0
    granularity: str = ""


# Later categories win when several match one name ("email_address" is EMAIL, not
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
            "postcode",
            "*_postcode",
            "zip",
            "zip_code",
            "zipcode",
            "*_zip",
        ),
    ),
    ColumnCategory("EMAIL", "moderate", ("email", "*email*", "*e_mail*", "mail")),
    ColumnCategory(
        "PHONE",
        "moderate",
        ("phone", "*phone*", "mobile", "*mobile*", "tel", "*_tel", "telephone", "fax", "*msisdn*"),
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
        ),
    ),
    ColumnCategory(
        "DOB",
        "strict",
        ("dob", "*_dob", "*date_of_birth*", "*birth_date*", "birthdate", "birthday"),
        action="generalize",
        granularity="year",
    ),
    ColumnCategory(
        "NATIONAL_ID",
        "strict",
        (
            "ssn",
            "*_ssn",
            "*national_id*",
            "nino",
            "dni",
            "nie",
            "nif",
            "passport*",
            "*tax_id*",
            "*social_security*",
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
        ("iban", "*_iban", "*account_number*", "bank_account*"),
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
    ),
)
