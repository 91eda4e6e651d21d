"""PERSON_NAME: names of people in free text, found deterministically.

A name is a given name from a gazetteer (given_names.txt, a few hundred common given
names across languages) followed by one to three capitalised tokens ("Maria Lopez",
"Maria José Lopez Garcia"), or a title (Mr, Mrs, Ms, Mx, Dr, Prof, Sr, Sra, Srta, Herr,
Frau, Mme, Mlle, M.) followed by one to three capitalised tokens ("Dr. Smith"). A match
whose later tokens include a place, calendar or organisation word ("George Street",
"Victoria Station", "Anna Monday") is no name (`not_a_place`, the rule's validator):
Rust's regex engine has no look-ahead, so that check runs on the candidates.

Precision is limited on purpose (see the README's GDPR section): a name written in lower
case, a given name missing from the list, or a surname alone is not found; a capitalised
phrase that starts with a listed given name ("Thomas Cook Holidays") is taken for one.
The patterns compile under both Python `re` and Rust `regex` (no \\p classes: letter
classes are spelled out for Latin scripts).
"""

from __future__ import annotations

from importlib.resources import files
from typing import Final

import polars as pl

_UPPER: Final = "A-ZÀ-ÖØ-ÞĀ-Ž"
_LOWER: Final = "a-zß-öø-ÿĀ-ž"
#: A capitalised token: "Lopez", "O'Brien", "McDonald", "Müller-Lüdenscheid".
TOKEN: Final = (
    f"[{_UPPER}](?:'[{_UPPER}])?[{_LOWER}]+(?:[{_UPPER}][{_LOWER}]+)?(?:-[{_UPPER}][{_LOWER}]+)?"
)
TITLES: Final = ("Mr", "Mrs", "Ms", "Mx", "Dr", "Prof", "Sr", "Sra", "Srta", "Herr", "Frau",
                 "Mme", "Mlle")  # fmt: skip
#: Words after a given name or title that make the phrase a place, a date or a body,
#: not a person (compared case-sensitively, as written in text).
NOT_NAME_WORDS: Final = frozenset({
    "Street", "St", "Road", "Rd", "Avenue", "Ave", "Lane", "Ln", "Drive", "Boulevard", "Blvd",
    "Square", "Place", "Plaza", "Park", "Gardens", "Garden", "Station", "Airport", "Bridge",
    "Hill", "Court", "Way", "Close", "Terrace", "Row", "Hall", "Church", "Cathedral", "School",
    "College", "University", "Hospital", "Hotel", "Centre", "Center", "Building", "Tower",
    "House", "Suite", "Apt", "Unit", "Floor", "Calle", "Avenida", "Rua", "Rue", "Strasse",
    "Straße", "Platz", "Weg", "Gasse", "Allee", "Via", "Viale", "Piazza", "Corso", "Inc",
    "Ltd", "LLC", "GmbH", "Group", "Company", "Corp", "Bank", "Foundation", "Island", "Lake",
    "River", "Beach", "Mountain", "Valley", "County", "City", "January", "February", "March",
    "April", "May", "June", "July", "August", "September", "October", "November", "December",
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
})  # fmt: skip


def given_names() -> tuple[str, ...]:
    """The gazetteer, longest first (so the alternation tries "Annabel" before "Anna")."""
    text = files(__package__).joinpath("given_names.txt").read_text(encoding="utf-8")
    names = {line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"}
    return tuple(sorted(names, key=lambda name: (-len(name), name)))


def name_value_regex() -> str:
    """The `sl_value` of the PERSON_NAME entity (its lead and trail are word edges)."""
    listed = "|".join(given_names())
    titles = "|".join(sorted(TITLES, key=len, reverse=True))
    return (
        rf"(?:(?:{listed})(?:[ \t]+{TOKEN}){{1,3}}"
        rf"|(?:(?:{titles})\.?|M\.)[ \t]+{TOKEN}(?:[ \t]+{TOKEN}){{0,2}})"
    )


def not_a_place(candidate: pl.Expr) -> pl.Expr:
    """Whether a candidate name has no place, calendar or organisation word after its
    first token (the validator of PERSON_NAME)."""
    later = candidate.str.split(" ").list.slice(1)
    return ~later.list.eval(pl.element().is_in(list(NOT_NAME_WORDS))).list.any()
