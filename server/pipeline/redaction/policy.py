"""A redaction policy as the redaction stage applies it: whole-value rules for columns
and nested fields, and pattern rules for matches inside text, in the order they apply.
Built and checked from the request by planning.redaction_plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sluice.server.pipeline.redaction.actions import HashKey
from sluice.server.pipeline.redaction.entity import Entity


@dataclass(frozen=True)
class ColumnRule:
    """A whole-value rule for columns or nested fields whose name matches `selector`."""

    selector: str
    label: str
    action: str
    keep_last: int = 0
    granularity: str = ""
    key: HashKey | None = None
    #: Request field to blame; set for request rules, which must match some column.
    field: str = ""
    #: A level's own default (COLUMN_CATEGORIES), not a policy's, template's or request's:
    #: among those matching one column the strongest action wins.
    level_default: bool = False
    #: Matches a top-level column only, never a nested field (RedactionRuleSpec.top_level).
    top_level: bool = False


@dataclass(frozen=True)
class PatternRule:
    """A rule for matches of `regex` inside text values."""

    label: str
    regex: str
    action: str
    validator: str = ""
    keep_last: int = 0
    key: HashKey | None = None
    #: A cheap necessary condition for `regex` (see Entity.gate); "" means `regex`.
    gate: str = ""
    #: The entity whose own pattern `regex` is: what the rewrites do beyond the pattern
    #: is declared there. None for a custom pattern, and for a step derived from an
    #: entity's rule with a pattern of its own (those rely on the entity's groups).
    entity: Entity | None = None
    #: A hash action writes its pseudonyms sealed (pseudonyms.py): set by the redactor
    #: when other text rules run after this one, which could read them.
    sealed: bool = False
    #: An earlier rule's seals may be in the text this one reads (set by the redactor):
    #: its replacements leave them whole (fenced_rewrite.py).
    after_seals: bool = False


def entity_rule(
    entity: Entity, action: str, keep_last: int = 0, key: HashKey | None = None
) -> PatternRule:
    """The rule running `entity`'s own pattern with `action`."""
    return PatternRule(
        entity.name, entity.regex, action, entity.validator, keep_last, key, entity.gate, entity
    )


@dataclass(frozen=True)
class RedactionPolicy:
    level: str
    column_rules: tuple[ColumnRule, ...]
    pattern_rules: tuple[PatternRule, ...]
    #: What the manifest records: the request as given (key names only).
    description: dict[str, Any] = field(default_factory=dict)
