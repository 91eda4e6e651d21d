"""A redaction policy as the redaction stage applies it: whole-value rules for columns
and nested fields, and pattern rules for matches inside text, in the order they apply.
Built and checked from the request by planning.redaction_plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sluice.server.pipeline.redaction.actions import HashKey


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


@dataclass(frozen=True)
class RedactionPolicy:
    level: str
    column_rules: tuple[ColumnRule, ...]
    pattern_rules: tuple[PatternRule, ...]
    #: What the manifest records: the request as given (key names only).
    description: dict[str, Any] = field(default_factory=dict)
