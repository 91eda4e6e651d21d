"""Cards in a JSON string whose digit groups are parted by the escape of a space or dash
beyond ASCII (`"4111\u00a01111\u00a01111\u00a01111"`, as `json.dumps` writes a no-break
space, a thin space or an en dash): the card pattern reads the separators themselves
(number_separators.CARD_SEPARATORS), not their six-character escapes, so such a card
was no candidate and stayed in clear at every level that masks cards.

A step of the card rule of its own (card_groups.without_last_group), with its own
gate: a digit, such an escape and a digit, which a literal search for the escape's
backslash and "u" finds; only the rows holding one are read. The groups are laid out
as a grouped card's (card_layouts.grouped_card: 4-4-4-4, 4-4-4-4-3, Amex 4-6-5, …)
and checked with the escapes read as the separators they stand for
(validators.card_escaped_separators: issuer, Luhn, one kind of separator). Not a card
that more groups so parted follow or precede (`1234\u00a04111\u00a0…`): the tail or
head of a longer number.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from sluice.server.pipeline.redaction.card_layouts import grouped_card
from sluice.server.pipeline.redaction.entity import ascii_boundaries, compose
from sluice.server.pipeline.redaction.number_separators import DASHES, ESCAPED_CARD_SEPARATOR
from sluice.server.pipeline.redaction.policy import PatternRule

_ESCAPE: Final = ESCAPED_CARD_SEPARATOR
#: What may come before the card: the text's start, a character that is neither a word's
#: nor a number's (a quote, a space, a bracket), a JSON escape of a line break, tab,
#: quote or slash, or such a separator's escape after a non-digit (`card\u00a04111…`).
#: Not a letter, as the card pattern's lead allows (`x4111…`): an escape's last hex digit
#: may be one (`1234\u202f4111…`, a longer number), and a digit ends the others.
_LEAD: Final = rf"^|[^0-9A-Za-z_\\.\-/#$€£+*{DASHES}]|\\[nrt\"/]|(?:^|[^0-9\\]){_ESCAPE}"
_VALUE: Final = grouped_card(_ESCAPE)
#: What may come after it: the text's end, a character that is neither a word's nor a
#: number's, a JSON escape other than a separator's before a digit (`\"`, `\n`, or
#: `\u00a0` and a word), or separators that no word follows.
_TRAIL: Final = (
    rf"$|[^0-9A-Za-z_\\\s.\-{DASHES}]|\\[^u]|\\u[0-9a-fA-F]{{4}}(?:[^0-9]|$)"
    rf"|[\s.\-{DASHES}]+(?:[^0-9A-Za-z_\\]|$)|\s+[^\W\d]"
)
#: The step's gate: what every match holds.
_GATE: Final = rf"[0-9]{_ESCAPE}[0-9]"
VALIDATOR: Final = "card_escaped_separators"


def escaped_separators_step(rule: PatternRule) -> PatternRule:
    """The card rule for cards parted by escaped separators, with its action."""
    return replace(
        rule,
        regex=ascii_boundaries(compose(_LEAD, _VALUE, _TRAIL)),
        validator=VALIDATOR,
        gate=_GATE,
        entity=None,
    )
