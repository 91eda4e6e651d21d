"""Column names as the level defaults read them.

CSV and database headers spell one name many ways (`Date of Birth`, `dateOfBirth`,
`date-of-birth`, `DATE_OF_BIRTH`); the category globs (column_categories.py) are written
for one of them, snake case. `normalised` brings a name to that form: camelCase and
PascalCase boundaries split, any run of punctuation or spaces read as `_`, letters
spelled one by one joined, a closing note in parentheses left out, lower case. A name
is read in Unicode's compatibility form first, with invisible format characters left
out: `email` in full-width letters and `pass\u200bword` (a zero-width space inside) read
as the names they show. Look-alike letters of other scripts (a Cyrillic dze for `s`) are
not folded: that needs a confusables table, and a header is the exporting service's own.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

#: `dateOfBirth` -> `date_Of_Birth`; `nationalId2` -> `national_Id2`.
_LOWER_THEN_UPPER: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
#: `HTTPStatus` -> `HTTP_Status`, `SSNNumber` -> `SSN_Number`: an acronym before a word
#: (two capitals at least: `GZip` stays one word, not `g_zip`, a ZIP code).
_ACRONYM_THEN_WORD: Final = re.compile(r"(?<=[A-Z]{2})(?=[A-Z][a-z])")
#: Anything but letters and digits separates words: spaces, `-`, `.`, `/`, and a header's
#: punctuation (`First Name*`, `Last Name:`, `SSN#`, `DOB?`).
_SEPARATORS: Final = re.compile(r"[\W_]+")
#: A note in parentheses closing a header: `Zip Code (5)`, `Amount (EUR)`.
_TRAILING_NOTE: Final = re.compile(r"\([^()]*\)\W*$")
#: Letters spelled one by one: `d_o_b` (from `D.O.B.`) reads `dob`.
_SPELLED_OUT: Final = re.compile(r"(?<![^_])[a-z](?:_[a-z])+(?![^_])")


def _shown(name: str) -> str:
    """`name` as it shows: compatibility forms folded (NFKC: full-width letters, ligatures),
    format characters (zero-width spaces and joiners, soft hyphens, bidi marks) left out."""
    folded = unicodedata.normalize("NFKC", name)
    return "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")


def normalised(name: str) -> str:
    """`name` in snake case: `Date of Birth`, `dateOfBirth`, `date-of-birth` all read
    `date_of_birth`; `E-Mail` reads `e_mail`, `postalCode` `postal_code`, `D.O.B.` `dob`,
    `Zip Code (5)` `zip_code`, `\uff45\uff4d\uff41\uff49\uff4c` `email`."""
    split = _ACRONYM_THEN_WORD.sub("_", _LOWER_THEN_UPPER.sub("_", _shown(name)))
    snake = _SEPARATORS.sub("_", _TRAILING_NOTE.sub("", split)).strip("_").lower()
    return _SPELLED_OUT.sub(lambda letters: letters.group().replace("_", ""), snake)
