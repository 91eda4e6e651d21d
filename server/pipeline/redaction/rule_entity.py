"""What a pattern rule's entity lets the text rewrites do beyond its pattern."""

from __future__ import annotations

from typing import Final

from sluice.server.pipeline.redaction.entities import ENTITY_BY_NAME, Entity
from sluice.server.pipeline.redaction.policy import PatternRule

#: Entities whose trail takes the one separator ("A B", "A,B") the next value's lead
#: needs: a second round over the first one's output finds that neighbour (a tag, mask
#: or pseudonym written in place of the first is never part of a value). Strict only:
#: the moderate level does not pay for it.
SECOND_ROUND: Final = frozenset(
    {"IBAN", "US_SSN", "ES_DNI", "UK_NINO", "MAC_ADDRESS", "GEO_COORDINATES", "IPV4", "IPV6"}
)


#: Second-round entities whose value holds no separator and whose trail is always a
#: character their lead accepts: a look-alike left unchanged by the first round still
#: takes the next value's lead ("12345678A X1234567L"), so the second round first puts a
#: joiner after every candidate's trail, giving the value after it a lead of its own.
#: The joiner only stands for a lead that was there before the look-alike's trail took
#: it, so it finds nothing a lookahead trail would not.
JOIN_AFTER_CANDIDATES: Final = frozenset({"ES_DNI"})


def own_entity(rule: PatternRule) -> Entity | None:
    """The entity whose own pattern `rule` runs, else None. The entity-specific steps
    here (second rounds, group retries, the extra passes) rely on that pattern's groups
    and layouts: a custom regex under the same label gets none of them."""
    entity = ENTITY_BY_NAME.get(rule.label)
    return entity if entity is not None and rule.regex == entity.regex else None


def second_round(rule: PatternRule) -> bool:
    return rule.label in SECOND_ROUND and own_entity(rule) is not None
