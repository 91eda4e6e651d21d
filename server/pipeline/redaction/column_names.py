"""Column names as the level defaults read them.

CSV and database headers spell one name many ways (`Date of Birth`, `dateOfBirth`,
`date-of-birth`, `DATE_OF_BIRTH`); the category globs (column_categories.py) are written
for one of them, snake case. `normalised` brings a name to that form: camelCase and
PascalCase boundaries split, spaces, hyphens and dots read as `_`, lower case.
"""

from __future__ import annotations

import re
from typing import Final

#: `dateOfBirth` -> `date_Of_Birth`; `nationalId2` -> `national_Id2`.
_LOWER_THEN_UPPER: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
#: `HTTPStatus` -> `HTTP_Status`, `SSNNumber` -> `SSN_Number`: an acronym before a word
#: (two capitals at least: `GZip` stays one word, not `g_zip`, a ZIP code).
_ACRONYM_THEN_WORD: Final = re.compile(r"(?<=[A-Z]{2})(?=[A-Z][a-z])")
_SEPARATORS: Final = re.compile(r"[\s\-._]+")


def normalised(name: str) -> str:
    """`name` in snake case: `Date of Birth`, `dateOfBirth`, `date-of-birth` all read
    `date_of_birth`; `E-Mail` reads `e_mail`, `postalCode` `postal_code`."""
    split = _ACRONYM_THEN_WORD.sub("_", _LOWER_THEN_UPPER.sub("_", name))
    return _SEPARATORS.sub("_", split).strip("_").lower()
