"""Turn a RedactionSpec (plus server settings) into the redaction stage: the level's
default rules, then a named server-side policy's rules, then the request's rules, in that
order, so later rules override earlier ones. Every bad rule is rejected here, naming it."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

import polars as pl

from sluice.server.errors import (
    DataDependentArgument,
    FailedPrecondition,
    InvalidArgument,
    quoted,
)
from sluice.server.pipeline.redaction.actions import (
    ACTIONS,
    COLUMN_ONLY_ACTIONS,
    DATE_GRANULARITIES,
    WIDTH_REFUSAL,
    HashKey,
    width_fits,
)
from sluice.server.pipeline.redaction.column_categories import COLUMN_CATEGORIES
from sluice.server.pipeline.redaction.entities import (
    ENTITIES,
    ENTITY_BY_NAME,
    LEVEL_RANK,
    LEVELS,
    at_level,
)
from sluice.server.pipeline.redaction.entity import Entity, compose
from sluice.server.pipeline.redaction.policy import (
    ColumnRule,
    PatternRule,
    RedactionPolicy,
    entity_rule,
)
from sluice.server.pipeline.redaction.redactor import PolicyRedactor
from sluice.server.pipeline.stages import NoRedaction, Redactor
from sluice.server.planning.spec import RedactionRuleSpec, RedactionSpec
from sluice.server.redaction_policy_config import DEFAULT_HASH_KEY, read_policy
from sluice.server.secrets import resolve_configured_secret
from sluice.server.settings import Settings

_ENTITY_NAME: Final = re.compile(r"^[A-Z][A-Z0-9_]*$")
#: Bounds on a rule's regular expression, checked before any engine parses it.
MAX_PATTERN_CHARS: Final = 1024
MAX_PATTERN_NESTING: Final = 32
_MAX_KEEP_LAST: Final = 1000


def build_redactor(spec: RedactionSpec, schema: pl.Schema, settings: Settings) -> Redactor:
    """Validate the request's redaction against the exported `schema` (raising
    InvalidArgument or FailedPrecondition naming the rule) and bind it to that schema."""
    policy = resolve_policy(spec, settings)
    if policy.level == "none" and not (spec.rules or spec.template_rules or spec.policy):
        return NoRedaction()
    return PolicyRedactor(policy, schema)


def resolve_policy(spec: RedactionSpec, settings: Settings) -> RedactionPolicy:
    requested = spec.level.strip().lower()
    if requested not in {"", "custom", *LEVELS}:
        raise InvalidArgument(
            "spec.redaction.level",
            f"unknown level {quoted(spec.level)}; "
            "expected one of none, basic, moderate, strict, custom",
        )
    policy_level, policy_rules = _named_policy(spec.policy, settings)
    if requested == "custom" and not spec.rules and not spec.policy:
        raise InvalidArgument("spec.redaction.level", "custom needs rules or a policy")
    level = max(
        requested if requested in LEVEL_RANK else "none",
        policy_level,
        "moderate" if spec.include_pii is False else "none",
        key=LEVEL_RANK.__getitem__,
    )
    keys = _KeyRing(settings)
    columns = [
        ColumnRule(glob, c.name, c.action, c.keep_last, c.granularity, level_default=True)
        for c in COLUMN_CATEGORIES
        if at_level(c.level, LEVEL_RANK[level])
        for glob in c.globs
    ]
    patterns: dict[str, PatternRule] = {
        e.name: entity_rule(e, e.default_action, e.default_keep_last)
        for e in ENTITIES
        if at_level(e.level, LEVEL_RANK[level]) and not e.opt_in
    }
    given = [(f"spec.redaction.policy[{spec.policy}].rules[{i}]", r, False)
             for i, r in enumerate(policy_rules)]  # fmt: skip
    given += [(f"spec.template.redaction.rules[{i}]", r, False)
              for i, r in enumerate(spec.template_rules)]  # fmt: skip
    given += [(f"spec.redaction.rules[{i}]", r, True) for i, r in enumerate(spec.rules)]
    for number, (where, rule, from_request) in enumerate(given):
        # The named policy's rules come first: the server's, not the caller's.
        parse = _server_rule if number < len(policy_rules) else _parse_rule
        parsed = parse(where, rule, keys, number)
        if isinstance(parsed, ColumnRule):
            columns.append(parsed if from_request else replace(parsed, field=""))
        else:
            patterns[parsed.label] = parsed
    ordered = sorted(patterns.values(), key=_pattern_order)
    description = {
        "level": level,
        "requested_level": requested or "none",
        "policy": spec.policy or None,
        "include_pii": spec.include_pii,
        "rules": [_describe_rule(r) for r in (*policy_rules, *spec.rules)],
        "patterns": [{"rule": p.label, "action": p.action} for p in ordered],
        "hash_keys": keys.described(),
    }
    return RedactionPolicy(level, tuple(columns), tuple(ordered), description)


def _pattern_order(rule: PatternRule) -> int:
    """Built-in entities keep their catalog order (it matters: phones go last); custom
    patterns follow in the order given."""
    names = list(ENTITY_BY_NAME)
    return names.index(rule.label) if rule.label in ENTITY_BY_NAME else len(names)


def _named_policy(name: str, settings: Settings) -> tuple[str, list[RedactionRuleSpec]]:
    if not name:
        return "none", []
    raw = settings.redaction_policies.get(name)
    if raw is None:
        known = ", ".join(sorted(settings.redaction_policies)) or "none configured"
        raise InvalidArgument("spec.redaction.policy", f"unknown policy {quoted(name)} ({known})")
    try:
        level, rules = read_policy(raw)
    except ValueError as exc:
        # The server's configuration is wrong, not the caller's request.
        raise FailedPrecondition(f"server policy {name!r} is invalid: {exc}") from None
    return level, rules


def check_server_policies(settings: Settings) -> None:
    """Every rule of every configured policy can apply — its action, pattern, options
    and hash key (read now, like every secret the daemon needs): FailedPrecondition
    naming `redaction_policies.NAME.rules[i]` when the daemon starts, rather than the
    first request naming the policy failing for a fault of the server's."""
    keys = _KeyRing(settings)
    for name, raw in sorted(settings.redaction_policies.items()):
        _level, rules = read_policy(raw)
        for number, rule in enumerate(rules):
            _server_rule(f"redaction_policies.{name}.rules[{number}]", rule, keys, number)


def _server_rule(
    where: str, rule: RedactionRuleSpec, keys: _KeyRing, number: int
) -> ColumnRule | PatternRule:
    """A server policy's rule: one that cannot be applied (an unknown action, a bad
    pattern, a hash key not configured) is the server's fault, not the caller's."""
    try:
        return _parse_rule(where, rule, keys, number)
    except DataDependentArgument:
        raise
    except InvalidArgument as exc:
        description = exc.violations[0].description
        raise FailedPrecondition(
            f"server policy rule {where} cannot apply: {description}"
        ) from None


def _parse_rule(
    where: str, rule: RedactionRuleSpec, keys: _KeyRing, number: int
) -> ColumnRule | PatternRule:
    column, pattern = rule.column.strip(), rule.pattern
    if bool(column) == bool(pattern):
        raise InvalidArgument(where, "give exactly one of column or pattern")
    action = rule.action.strip().lower()
    entity = _entity(where, pattern) if pattern else None
    if not action and entity is not None:
        action = entity.default_action
    if action not in ACTIONS:
        raise InvalidArgument(
            where, f"unknown action {quoted(rule.action)}; expected one of {', '.join(ACTIONS)}"
        )
    _check_options(where, rule, action)
    key = keys.get(where, rule.key) if action == "hash" else None
    keep_last = rule.keep_last
    if keep_last is None:
        # Not given: an entity's own default when the rule keeps its action (CARD: 4).
        keeps_default = entity is not None and action == entity.default_action
        keep_last = entity.default_keep_last if entity is not None and keeps_default else 0
    if column:
        granularity = rule.granularity.strip().lower() or "year"
        return ColumnRule(
            column, action, action, keep_last, granularity, key, where, top_level=rule.top_level
        )
    if action in COLUMN_ONLY_ACTIONS:
        raise InvalidArgument(where, f"{action} applies to columns, not to a pattern")
    if entity is not None:
        return entity_rule(entity, action, keep_last, key)
    _check_regex(where, pattern)
    return PatternRule(f"REGEX_{number}", compose("", pattern, ""), action, "", keep_last, key)


def _entity(where: str, pattern: str) -> Entity | None:
    name = pattern.strip().upper()
    if name in ENTITY_BY_NAME:
        return ENTITY_BY_NAME[name]
    if _ENTITY_NAME.fullmatch(pattern.strip()):
        raise InvalidArgument(
            where,
            f"unknown entity {quoted(pattern)}; expected one of {', '.join(ENTITY_BY_NAME)}"
            " or a regular expression",
        )
    return None


def _check_options(where: str, rule: RedactionRuleSpec, action: str) -> None:
    if rule.keep_last and action != "mask":
        raise InvalidArgument(where, "keep_last only applies to mask")
    if rule.keep_last is not None and not 0 <= rule.keep_last <= _MAX_KEEP_LAST:
        raise InvalidArgument(where, f"keep_last must be 0..{_MAX_KEEP_LAST}")
    if rule.key and action != "hash":
        raise InvalidArgument(where, "key only applies to hash")
    granularity = rule.granularity.strip().lower()
    if granularity and action != "generalize":
        raise InvalidArgument(where, "granularity only applies to generalize")
    if granularity and granularity not in DATE_GRANULARITIES:
        try:
            width = float(granularity)
        except ValueError:
            width = math.nan
        if not (math.isfinite(width) and width > 0):
            raise InvalidArgument(
                where, "granularity must be year, month, day or a positive bucket width"
            )
        if not width_fits(pl.Int64(), granularity):
            # Its bucket edges would be the plain floor of a float quotient, not its
            # decimals (actions._bucket_floor): refused rather than generalised loosely,
            # whatever the column. A whole width is exact on an integer column: the
            # column's type decides (redactor._check_fits).
            raise InvalidArgument(
                where, f"granularity {quoted(rule.granularity.strip())}: {WIDTH_REFUSAL}"
            )


def _check_regex(where: str, pattern: str) -> None:
    """The pattern must mean the same to Python `re` and to Polars' Rust engine (which
    has no look-around or backreferences), and must not match the empty string."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise InvalidArgument(where, f"pattern is longer than {MAX_PATTERN_CHARS} characters")
    if _group_depth(pattern) > MAX_PATTERN_NESTING:
        # Python's parser recurses per group (RecursionError near 600 levels).
        raise InvalidArgument(where, f"pattern nests groups deeper than {MAX_PATTERN_NESTING}")
    try:
        compiled = re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise InvalidArgument(where, f"invalid regular expression: {exc}") from None
    try:
        pl.select(pl.lit("").str.contains(pattern))
    except pl.exceptions.PolarsError as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "rejected"
        raise InvalidArgument(where, f"regular expression not supported: {first}") from None
    if compiled.fullmatch("") is not None:
        raise InvalidArgument(where, "regular expression matches the empty string")
    if "sl_" in "".join(compiled.groupindex):
        raise InvalidArgument(where, "group names starting with sl_ are reserved")


def _group_depth(pattern: str) -> int:
    """How deep `(` nests, outside character classes and escapes (an upper bound is
    enough: a pattern this counts too deep is refused, not misread)."""
    depth = deepest = 0
    escaped = in_class = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth -= 1
    return deepest


def _describe_rule(rule: RedactionRuleSpec) -> dict[str, Any]:
    described: dict[str, Any] = {"action": rule.action}
    # The fields a description shows, in this order (an explicit table, no names looked
    # up on the rule).
    fields: dict[str, Any] = {
        "column": rule.column,
        "pattern": rule.pattern,
        "keep_last": rule.keep_last,
        "granularity": rule.granularity,
        "key": rule.key,
    }
    for name, value in fields.items():
        if value or (name == "keep_last" and value == 0 and rule.action == "mask"):
            described[name] = value
    return described


def resolve_hash_key(refs: Mapping[str, str], name: str, where: str) -> HashKey:
    """The hash key `name` of the server's `hash_keys`; errors say `where` it was asked
    for, never the key. A configured name (and the default one) is named; an unknown
    one is the caller's INVALID_ARGUMENT and is not: the key itself is sometimes pasted
    where its name belongs."""
    reference = refs.get(name)
    if reference is None and name == DEFAULT_HASH_KEY:
        raise FailedPrecondition(
            f"{where}: hash key {quoted(name)} is not configured on the server (hash_keys)"
        )
    if reference is None:
        # The name is not echoed: callers sometimes paste the key itself here.
        configured = ", ".join(sorted(refs)) or "none"
        raise InvalidArgument(
            where, f"no hash key of that name is configured on the server (hash_keys: {configured})"
        )
    try:
        secret = resolve_configured_secret(reference, f"{where}: hash key {quoted(name)}")
    except ValueError:
        raise FailedPrecondition(
            f"{where}: hash key {quoted(name)} is not a valid secret reference"
        ) from None
    return HashKey(name, secret)


class _KeyRing:
    """Hash keys resolved once per plan, by name; errors name the rule, never the key."""

    def __init__(self, settings: Settings) -> None:
        self._refs = settings.hash_keys
        self._keys: dict[str, HashKey] = {}

    def get(self, where: str, name: str) -> HashKey:
        name = name.strip() or DEFAULT_HASH_KEY
        if name not in self._keys:
            self._keys[name] = resolve_hash_key(self._refs, name, where)
        return self._keys[name]

    def described(self) -> dict[str, str]:
        return {name: key.key_id for name, key in sorted(self._keys.items())}
