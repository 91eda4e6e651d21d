"""How a card's digits are laid out in groups, for the patterns that read a card after
or among other digit groups (card_groups.py) or parted by escaped separators
(card_escaped_separators.py)."""

from __future__ import annotations


def grouped_card(separator: str) -> str:
    """A grouped card (4-4-4-4, 4-4-4-4-3, Amex 4-6-5, and the 14 or 15 digits of
    Diners' or Amex in fours, 4-4-4-2 and 4-4-4-3: `2024-01-02 3056 9309 0259 04` stayed
    in clear) with its groups parted by `separator`, a pattern."""
    return (
        f"[0-9]{{4}}(?:{separator}[0-9]{{4}}){{3}}(?:{separator}[0-9]{{3}})?"
        f"|[0-9]{{4}}{separator}[0-9]{{6}}{separator}[0-9]{{5}}"
        f"|[0-9]{{4}}(?:{separator}[0-9]{{4}}){{2}}{separator}[0-9]{{2,3}}"
    )
