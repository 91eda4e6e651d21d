"""The shape of a `[redaction_policies.NAME]` table: checked when settings load, so a
typo refuses the start naming the policy and key instead of failing the first caller who
names the policy. Planning (server/planning/redaction_plan.py) reads policies through
the same check and still judges each rule (actions, patterns, hash keys) in full."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Final

from sluice.server.pipeline.redaction.entities import LEVEL_RANK
from sluice.server.planning.spec import RedactionRuleSpec

#: The hash_keys entry a hash rule naming no key uses.
DEFAULT_HASH_KEY: Final = "default"
POLICY_KEYS: Final = frozenset({"level", "rules", "description"})
#: Keys a policy rule may have: RedactionRuleSpec's fields a configuration may set.
_RULE_KEYS: Final = frozenset(f.name for f in fields(RedactionRuleSpec))
#: Each key's type in the file: a wrong one (`keep_last = "four"`) reached planning,
#: which failed the first request naming the policy with an unhandled TypeError.
_RULE_TYPES: Final[dict[str, type]] = {
    "column": str,
    "pattern": str,
    "action": str,
    "keep_last": int,
    "granularity": str,
    "key": str,
    "top_level": bool,
}
_TYPE_WORDS: Final = {str: "a string", int: "a whole number", bool: "true or false"}


def read_policy(raw: object) -> tuple[str, list[RedactionRuleSpec]]:
    """A policy's level and rules; ValueError naming the key that is wrong."""
    if not isinstance(raw, dict):
        raise ValueError("must be a table with level and rules")
    unknown = sorted(set(raw) - POLICY_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(map(str, unknown))}")
    level = str(raw.get("level", "none")).lower()
    if level not in LEVEL_RANK:
        raise ValueError(f"unknown level {level[:40]!r}; expected one of {', '.join(LEVEL_RANK)}")
    rules = raw.get("rules", [])
    if not isinstance(rules, list):
        raise ValueError("rules must be a list of tables")
    return level, [_rule(number, rule) for number, rule in enumerate(rules)]


def check_policies(policies: dict[str, Any]) -> dict[str, Any]:
    """Every configured policy is readable; ValueError naming the policy otherwise."""
    for name, raw in policies.items():
        try:
            read_policy(raw)
        except ValueError as exc:
            raise ValueError(f"policy {name[:40]!r}: {exc}") from None
    return policies


def _rule(number: int, rule: object) -> RedactionRuleSpec:
    if not isinstance(rule, dict):
        raise ValueError(f"rules[{number}] must be a table")
    unknown = sorted(set(rule) - _RULE_KEYS)
    if unknown:
        raise ValueError(f"rules[{number}]: unknown key(s) {', '.join(map(str, unknown))}")
    for key, value in rule.items():
        wanted = _RULE_TYPES[key]
        # bool is an int to Python: `keep_last = true` is no count.
        if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
            raise ValueError(f"rules[{number}].{key} must be {_TYPE_WORDS[wanted]}")
    return RedactionRuleSpec(**rule)
