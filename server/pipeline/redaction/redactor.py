"""The Redactor: a policy bound to a schema, applied as LazyFrame stages.

The first stage applies column rules (by column or field name) to whole values. Then
one stage per JSON-key group and per pattern rule rewrites the text leaves no column
rule claimed; those run only on the rows holding a candidate (see compaction.py). Each
stage writes the new columns beside the old ones, derives its counter flags by comparing
old and new, then swaps them in, so counts are exact and computed by Polars.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Final

import polars as pl

from sluice.server.errors import DataDependentArgument, quoted
from sluice.server.pipeline.data_types import instance
from sluice.server.pipeline.redaction import actions
from sluice.server.pipeline.redaction.candidate_checks import may_rewrite
from sluice.server.pipeline.redaction.card_groups import without_last_group
from sluice.server.pipeline.redaction.changed_lists import lists_differ
from sluice.server.pipeline.redaction.column_categories import COLUMN_CATEGORIES
from sluice.server.pipeline.redaction.column_names import normalised
from sluice.server.pipeline.redaction.compaction import CompactedTextPass, TextStep
from sluice.server.pipeline.redaction.distinct_values import rewritten_per_distinct
from sluice.server.pipeline.redaction.integers import (
    INTEGER_ENTITIES,
    may_hold_cards,
    without_cards,
)
from sluice.server.pipeline.redaction.json_keys import (
    json_kept_key_regex,
    json_key_regex,
    rewrite_json_keys,
)
from sluice.server.pipeline.redaction.keeping_own_names import rewrite_text_keeping
from sluice.server.pipeline.redaction.list_forms import (
    MAP_KEY,
    MAP_VALUE,
    as_lists,
    given_type,
    map_locations,
    restored,
    restored_type,
)
from sluice.server.pipeline.redaction.map_keys import KeyRule, value_by_key
from sluice.server.pipeline.redaction.phone_one_pass import (
    phone_verdicts,
    rewrite_checked,
    rewrites_in_one_pass,
)
from sluice.server.pipeline.redaction.phone_shapes import may_hold_phone
from sluice.server.pipeline.redaction.policy import ColumnRule, PatternRule, RedactionPolicy
from sluice.server.pipeline.redaction.pseudonyms import holds_sealed, unsealed
from sluice.server.pipeline.redaction.schema_walk import (
    ELEMENT,
    Location,
    Rewrite,
    any_present,
    dictionary_free,
    dotted,
    extract,
    is_nested,
    rebuild,
    walk,
)
from sluice.server.pipeline.redaction.text import rewrite_text
from sluice.server.pipeline.redaction.verdicts import CandidateFacts
from sluice.server.pipeline.source import ROW_INDEX

COUNTER_PREFIX: Final = "__sluice_c"
_STAGED_PREFIX: Final = "__sluice_new"
#: Columns the pipeline adds (the row position, the cursor copy): never redacted.
_INTERNAL_PREFIX: Final = "__sluice"
_NESTED_ACTIONS: Final = frozenset({"drop", "null", "redact", "keep"})
_JSON_ACTIONS: Final = frozenset({"drop", "null", "redact"})
#: Level defaults that mask or generalise a column, whose value a tag replaces inside
#: JSON text (`{"dob": "1990-05-06"}`, `{"account_number": …}`): a mask or generalisation
#: has no form there, and the README promises a tag for column rules. Not GEO: the
#: GEO_COORDINATES entity finds a coordinate under a key of its own (`{"lat": 40.4168}`).
_JSON_TAGGED_DEFAULTS: Final = frozenset({"DOB", "CARD", "IBAN"})
_NAME_GLOBS: Final = next(c.globs for c in COLUMN_CATEGORIES if c.name == "NAME")
#: The labels whose JSON keys keep a boolean value: a birth date is never one, and a
#: Boolean column named after it (`dob`, `dobVerified`) is never generalised or tagged
#: (_holds_a_value). The other level defaults' keys still take one (a secret's does:
#: `{"db_pass": true}` may be the value itself).
_JSON_BOOLEANS_KEPT: Final = frozenset({"DOB"})
_NOT_VALUES: Final = {c.name: c.not_values for c in COLUMN_CATEGORIES}


@dataclass(frozen=True)
class _Flag:
    counter: str
    location: Location
    #: True: count rows where the value differs; False: rows where a value was present.
    compare: bool
    #: Compare the old value's text (a masked number becomes text: compare like with like).
    as_text: bool = False
    #: The old value's type, read as actions.as_text reads it (bytes, durations).
    dtype: pl.DataType | None = None


@dataclass
class _Stage:
    rewrites: dict[str, dict[Location, Rewrite]] = field(default_factory=dict)
    flags: list[_Flag] = field(default_factory=list)

    def add(self, location: Location, rewrite: Rewrite, flag: _Flag) -> None:
        self.rewrites.setdefault(location[0], {})[location] = rewrite
        self.flags.append(flag)


@dataclass(frozen=True)
class _TextRule:
    stage: _Stage
    #: A cheap necessary condition, joined with the other rules' into the first scan.
    regex: str
    #: Per text value: a sharper test, run where `regex` holds (validated entities).
    refine: Callable[[pl.Expr], pl.Expr] | None = None
    #: `regex` starts with a literal, so it can be joined with others (see compaction).
    keyword: bool = False
    #: `regex` never matches text without a separator (compaction.SEPARATORS).
    assigns: bool = False
    #: It may match what earlier rules wrote (a custom pattern: TextStep.reads_written).
    reads_written: bool = False
    #: `refine` holds wherever the rule changes a value, and narrows a column's rows
    #: (TextStep.refine_by_column).
    refine_by_column: bool = False
    #: A second condition scanned apart, either holding (Entity.label_gate).
    label_gate: str = ""


class PolicyRedactor:
    def __init__(self, policy: RedactionPolicy, schema: pl.Schema) -> None:
        self._policy = policy
        #: The schema as the source gave it, which refusals name (not the list forms).
        self._given = schema
        #: Columns holding dictionary-encoded text (Categorical, Enum), read as String so
        #: every rule reads them: the categories are the values, which may hold anything.
        # Arrays and maps are read as the lists they are made of, and get their own types
        # back after the rules (list_forms.py): so every rule reaches their values.
        as_text = pl.Schema(
            {name: dictionary_free(as_lists(dtype)) for name, dtype in schema.items()}
        )
        self._as_text = {n: t for n, t in as_text.items() if t != schema[n]}
        self._list_forms = {n: t for n, t in schema.items() if as_lists(t) != t}
        self._maps = frozenset(
            location for n, t in self._list_forms.items() for location in map_locations((n,), t)
        )
        #: Per column read as lists: its type after the rules, and the type it leaves with.
        self._restore: dict[str, tuple[pl.DataType, pl.DataType]] = {}
        schema = as_text
        self._counters: dict[str, str] = {}
        self._claimed: set[Location] = set()
        self._columns_in_schema: dict[str, Location] = {}
        self._columns_description: dict[str, dict[str, Any]] = {}
        self._text_pass: CompactedTextPass | None = None
        #: Top-level text columns named like a name and kept whole (a GDPR package keeps
        #: the subject's own): PERSON_NAME leaves the row's own name in its texts.
        self._own_names: list[str] = []
        #: Stages after the text pass (PERSON_NAME keeping own names reads other columns,
        #: which the compacted pass does not carry), and the custom patterns after it.
        self._late_stages: list[_Stage] = []
        self._stages: list[_Stage] = [self._column_stage(schema)]
        self._stages.extend(self._map_key_stages(schema) if self._maps else [])
        self._stages.append(self._integer_stage(schema))
        text_schema = self._run_stages(pl.LazyFrame(schema=schema)).collect_schema()
        leaves = [
            location
            for name, dtype in text_schema.items()
            if name in schema
            for location, leaf in walk((name,), dtype)
            if leaf == pl.String and not self._is_claimed(location)
        ]
        steps = [*self._json_steps(leaves), *self._pattern_steps(leaves)]
        #: What content rules read each column's values: "text" or an integer entity.
        self._content_checks: dict[str, str] = {
            name: label for label, name in self._integer_columns(self._stages[1])
        }
        if leaves and (steps or self._late_stages):
            self._content_checks.update((location[0], "text") for location in leaves)
        if steps and leaves:
            columns = list(dict.fromkeys(location[0] for location in leaves))
            self._text_pass = CompactedTextPass(
                pl.Schema({c: text_schema[c] for c in columns}),
                [
                    TextStep(
                        partial(_run_for_leaves, step.stage),
                        partial(_contains, step.regex, step.label_gate),
                        {flag.location: flag.counter for flag in step.stage.flags},
                        step.refine,
                        step.regex if step.keyword else "",
                        step.assigns,
                        step.regex,
                        step.reads_written,
                        step.refine_by_column,
                        step.label_gate,
                    )
                    for step in steps
                ],
            )
        if self._list_forms:
            out = self._run_stages(pl.LazyFrame(schema=schema)).collect_schema()
            for name, before in self._list_forms.items():
                if name in out and (target := restored_type(out[name], before)) != out[name]:
                    self._restore[name] = (out[name], target)

    @property
    def counters(self) -> Mapping[str, str]:
        return self._counters

    def apply(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        return self._run_stages(frame)

    @property
    def rewrites(self) -> bool:
        # Every rewrite (drop, mask, pattern, JSON key) feeds a counter; "keep" rules add
        # neither, so a policy with no counter changes nothing.
        return bool(self._counters)

    @property
    def requested(self) -> bool:
        policy = self._policy
        actions = [r.action for r in policy.column_rules] + [r.action for r in policy.pattern_rules]
        return policy.level != "none" or any(action != "keep" for action in actions)

    def output_schema(self, schema: pl.Schema) -> pl.Schema:
        out = self._run_stages(pl.LazyFrame(schema=schema)).collect_schema()
        return pl.Schema({k: v for k, v in out.items() if k not in self._counters})

    def describe(self) -> dict[str, Any]:
        return {
            **self._policy.description,
            "columns": self._columns_description,
            "counts_are": "records in which the rule changed the column",
        }

    def content_checks(self, column: str) -> str:
        return self._content_checks.get(column, "")

    def _integer_columns(self, stage: _Stage) -> list[tuple[str, str]]:
        """(entity, column) of the integer stage's rewrites, as its counters name them."""
        return [
            (self._counters[flag.counter].partition("/")[0], flag.location[0])
            for flag in stage.flags
        ]

    # -- building -----------------------------------------------------------------------

    def _column_stage(self, schema: pl.Schema) -> _Stage:
        stage = _Stage()
        described: dict[str, dict[str, Any]] = {}
        for name, dtype in schema.items():
            if name == ROW_INDEX:
                continue
            for location, node_type in walk((name,), dtype):
                if self._is_claimed(location) or self._is_map_entry_part(location):
                    # A map's keys and values are no column: `key` and `value` name its
                    # list form's parts, not the source's (`m.key` is refused, as before
                    # maps were read inside); a map is taken whole by its own name.
                    continue
                rule = self._rule_for(location, node_type)
                if rule is None:
                    continue
                self._claimed.add(location)
                described[dotted(location)] = {"rule": rule.label, "action": rule.action}
                if rule.action == "keep":
                    if _is_own_name(location, node_type):
                        self._own_names.append(name)
                    continue
                whole_map = location in self._maps
                masked = rule.action == "mask" and not whole_map
                # A Duration or bytes in a list cannot be compared with their mask as
                # text (a cast cannot read them as actions.as_text does): every value
                # present counts there, as for other actions.
                comparable = ELEMENT not in location or not (
                    isinstance(node_type, pl.Duration) or node_type == pl.Binary
                )
                flag = _Flag(
                    self._counter(rule.label, location),
                    location,
                    masked and comparable,
                    as_text=masked and node_type != pl.String,
                    dtype=node_type,
                )
                rewrite = _whole_map_rewrite(rule) if whole_map else _whole_value_rewrite(rule)
                stage.add(location, rewrite, flag)
        self._check_request_rules_matched(schema)
        self._columns_description = described
        return stage

    def _integer_stage(self, schema: pl.Schema) -> _Stage:
        """Entities whose digits-only form can sit in a 64-bit integer (cards), looked
        for in the integers no column rule claimed (see integers.py)."""
        stage = _Stage()
        rules = [
            rule
            for rule in self._policy.pattern_rules
            if rule.label in INTEGER_ENTITIES and rule.action != "keep"
        ]
        for rule in rules:
            for name, dtype in schema.items():
                if name.startswith(_INTERNAL_PREFIX):
                    continue
                for location, leaf in walk((name,), dtype):
                    if may_hold_cards(leaf) and not self._is_claimed(location):
                        flag = _Flag(self._counter(rule.label, location), location, True)
                        stage.add(location, without_cards, flag)
        return stage

    def _rule_for(self, location: Location, dtype: pl.DataType) -> ColumnRule | None:
        """The last matching rule that can apply here (later rules override earlier)."""
        path = dotted(location).lower()
        own = path.rsplit(".", 1)[-1]
        # Level defaults, policies and templates also read the name in snake case
        # (`Date of Birth`, `dateOfBirth` as `date_of_birth`: column_names.py); a
        # request's own rules name columns as they are spelled.
        # A list's elements are known by their list's name; a map named like a category
        # is taken whole (_whole_map_rewrite), keys included.
        field_name = next(step for step in reversed(location) if step != ELEMENT)
        snake = normalised(field_name)
        spellings = (own, field_name.lower(), snake)
        last_word = snake.rsplit("_", 1)[-1]
        # A top-level list's elements are its own (`mobile: ["+44 …"]`); a field of a
        # struct or of a list's structs (`contacts[].email`) is nested.
        nested = sum(step != ELEMENT for step in location) != 1
        chosen: ColumnRule | None = None
        for rule in self._policy.column_rules:
            if rule.top_level and nested:
                continue
            selector = rule.selector.lower()
            if "." in selector:
                matched = fnmatch.fnmatchcase(path, selector)
            elif rule.field:
                matched = fnmatch.fnmatchcase(own, selector)
            else:
                matched = any(fnmatch.fnmatchcase(name, selector) for name in spellings)
            if not matched:
                continue
            if rule.field:
                self._columns_in_schema.setdefault(rule.field, location)
                _check_fits(
                    rule, location, dtype, given_type(self._given[location[0]], location[1:])
                )
                chosen = rule
            elif not _default_applies(rule, dtype, last_word, location in self._maps):
                continue
            elif chosen is None or not _is_level_default(rule) or not _is_level_default(chosen):
                chosen = rule
            elif _STRENGTH[rule.action] >= _STRENGTH[chosen.action]:
                # Among level defaults the strongest action wins: `bankAccountPassword`
                # is SECRET and CARD/IBAN, and a mask would leave its last 4 in clear.
                chosen = rule
        return chosen

    def _is_map_entry_part(self, location: Location) -> bool:
        """A map's keys or values."""
        parts = ((ELEMENT, MAP_KEY), (ELEMENT, MAP_VALUE))
        return location[-2:] in parts and location[:-2] in self._maps

    def _check_request_rules_matched(self, schema: pl.Schema) -> None:
        for rule in self._policy.column_rules:
            if rule.field and rule.field not in self._columns_in_schema:
                columns = ", ".join(name for name in schema if name != ROW_INDEX)
                raise DataDependentArgument(
                    rule.field,
                    f"column {quoted(rule.selector)} matches no exported column ({columns})",
                )

    def _json_groups(self) -> dict[str, list[ColumnRule]]:
        """Per tag, the column rules that replace a value under a key they name."""
        groups: dict[str, list[ColumnRule]] = {}
        for rule in self._policy.column_rules:
            if "." in rule.selector or rule.action == "keep":
                continue
            default = not rule.field and rule.label in _JSON_TAGGED_DEFAULTS
            if rule.action in _JSON_ACTIONS or default:
                label = rule.label if rule.label.isupper() else "REDACTED"
                groups.setdefault(label, []).append(rule)
        return groups

    def _map_key_stages(self, schema: pl.Schema) -> list[_Stage]:
        """Map values under text keys a column rule names (map_keys.py), where no
        column rule took them: one stage per tag, in the JSON keys' order."""
        entries = [
            (location, instance(entry.fields[1].dtype))
            for name, dtype in schema.items()
            for location, entry in walk((name,), dtype)
            if location[:-1] in self._maps
            and location[-1] == ELEMENT
            and isinstance(entry, pl.Struct)
            and entry.fields[0].dtype == pl.String
            and not self._is_claimed((*location, MAP_VALUE))
        ]
        # A stage rewrites a column once, at the outermost location it names (rebuild
        # never goes below a rewrite): a map inside another map's values needs a stage
        # of its own, run before the outer map's (whose value may become null).
        depths = sorted({self._map_depth(location) for location, _ in entries}, reverse=True)
        stages = []
        for label, group in self._json_groups().items() if entries else ():
            rule = KeyRule(label, json_key_regex(group), json_kept_key_regex(group, _NOT_VALUES))
            for depth in depths:
                stage = _Stage()
                for location, value_type in entries:
                    if self._map_depth(location) != depth:
                        continue
                    value = (*location, MAP_VALUE)
                    flag = _Flag(self._counter(f"{label}_MAP", value), value, True)
                    stage.add(location, partial(_values_by_key, value_type, rule), flag)
                stages.append(stage)
        return stages

    def _map_depth(self, location: Location) -> int:
        """How many maps hold `location` (a map's entries are at depth 1)."""
        return sum(location[:end] in self._maps for end in range(1, len(location)))

    def _json_steps(self, leaves: list[Location]) -> list[_TextRule]:
        stages = []
        for label, rules in self._json_groups().items():
            stage = _Stage()
            booleans = label not in _JSON_BOOLEANS_KEPT
            regex = json_key_regex(rules, booleans=booleans)
            gate = json_key_regex(rules, booleans=booleans, gate=True)
            # Keys a column of the same name would keep (`dateOfBirthVerified`).
            kept = json_kept_key_regex(rules, _NOT_VALUES)
            for location in leaves:
                flag = _Flag(self._counter(f"{label}_JSON", location), location, True)
                stage.add(location, _json_rewrite(regex, label, kept), flag)
            stages.append(_TextRule(stage, gate, keyword=True, assigns=True))
        return stages

    def _pattern_steps(self, leaves: list[Location]) -> list[_TextRule]:
        steps: list[_TextRule] = []
        # A hash rule that other text rules follow writes its pseudonyms sealed, so
        # that none of them reads one (pseudonyms.py): after every other step, one per
        # hash step gives them their own form, on the rows that step's gate picked (its
        # pseudonyms are there).
        unsealing: list[_TextRule] = []
        # Custom patterns run after the built-in entities (the policy's order) and see
        # pseudonyms in their own form, as they did before sealing: a custom rule that
        # read a seal's digest would leave it unsealable (`[EMAIL:[REGEX_1]\x1a]`).
        custom: list[_TextRule] = []
        rules = self._sealed_where_followed()
        # PERSON_NAME keeping own names runs after the text pass (it reads the own-name
        # columns, which the pass does not carry): the custom patterns follow it there,
        # so they read its tags as they do without a kept name column, and never hide
        # part of a name from it ("Alice [REGEX_1]" for `Smith:redact`).
        customs_late = any(self._keeps_own_names(rule) for rule in rules)
        for rule in rules:
            if not leaves:
                continue
            stage = _Stage()
            keeping = self._keeps_own_names(rule)
            # One memory of candidates' verdicts for all leaves: bounded per redactor,
            # and a verdict holds wherever the candidate is found.
            verdicts = phone_verdicts() if rewrites_in_one_pass(rule) else None
            for location in leaves:
                flag = _Flag(self._counter(rule.label, location), location, True)
                own = self._own_names if keeping and len(location) == 1 else []
                rewrite = _text_rewrite(rule, own, verdicts)
                stage.add(location, _per_distinct_in_lists(location, rewrite), flag)
            if keeping or (customs_late and rule.entity is None):
                # Runs last, so never sealed (see _sealed_where_followed); custom patterns
                # come after every built-in entity in the policy's order, so after it.
                self._late_stages.append(stage)
                continue
            # A rule rewritten in one pass checks its candidates itself (see
            # phone_one_pass.rewrite_checked): it runs on the rows its gate picked where
            # a number may be laid out as a phone (phone_shapes.py), one scan of them.
            refine: Callable[[pl.Expr], pl.Expr] | None = None
            if rewrites_in_one_pass(rule):
                refine = may_hold_phone
            elif rule.validator:
                refine = partial(may_rewrite, rule=rule)
            # Gates starting with a literal, and those needing a separator like the
            # JSON-key gates (`"key":`), are declared by the entity (see compaction).
            entity = rule.entity
            keyword = entity is not None and entity.keyword_gate
            assigns = entity is not None and entity.keyword_gate and entity.gate_assigns
            # A custom pattern reads tags, masks and pseudonyms the rules before it wrote
            # (unsealed), as any text: its author's choice (see compaction._steps_on).
            custom_pattern = entity is None
            label_gate = entity.label_gate if entity is not None else ""
            step = _TextRule(
                stage,
                rule.gate or rule.regex,
                refine,
                keyword,
                assigns,
                custom_pattern,
                refine_by_column=rewrites_in_one_pass(rule),
                label_gate=label_gate,
            )
            (custom if custom_pattern else steps).append(step)
            sealed = partial(holds_sealed, label=rule.label, action=rule.action)
            if rule.sealed:
                unseal = _unsealing(rule, stage)
                gate = rule.gate or rule.regex
                unsealing.append(
                    _TextRule(unseal, gate, sealed, keyword, assigns, label_gate=label_gate)
                )
            for shorter in without_last_group(rule):
                # Same counters: a record counts once whichever step changed it.
                again = _Stage()
                for flag in stage.flags:
                    # Then the whole rule again: a card after the one just masked
                    # ("4111… 5500…") was taken as context.
                    rewrites = _text_rewrites(shorter, rule)
                    again.add(flag.location, _per_distinct_in_lists(flag.location, rewrites), flag)
                refine = partial(may_rewrite, rule=shorter)
                steps.append(_TextRule(again, shorter.gate or shorter.regex, refine))
                if rule.sealed:
                    unseal = _unsealing(rule, again)
                    unsealing.append(_TextRule(unseal, shorter.gate or shorter.regex, sealed))
        return [*steps, *unsealing, *custom]

    def _sealed_where_followed(self) -> list[PatternRule]:
        """The pattern rules that rewrite text, built-in hash rules sealed where another
        built-in text step runs after theirs: a later rule, or their own second step (a
        card rule looks for cards beside digit groups again). Masks of secrets too (the
        keyword rule after them reads any value after a secret's name); a mask of a
        number or an id no later rule reads (their leads take no run of "*"), and the
        card rule's own steps read its masks. Keeping own names runs last; custom
        patterns run after the unsealing (see _pattern_steps). The rules after a sealed
        one, and its own later steps, leave seals whole (PatternRule.after_seals)."""
        rules = [rule for rule in self._policy.pattern_rules if rule.action != "keep"]
        built_in = [r for r in rules if r.entity is not None and not self._keeps_own_names(r)]
        last = built_in[-1] if built_in else None
        written: list[PatternRule] = []
        after_seals = False
        for rule in rules:
            sealed = (
                _seals(rule)
                and rule in built_in
                and (rule is not last or bool(without_last_group(rule)))
            )
            # A rule after a sealed one, or its own later steps, may read its seals.
            written.append(replace(rule, sealed=sealed, after_seals=after_seals or sealed))
            after_seals = after_seals or sealed
        return written

    def _keeps_own_names(self, rule: PatternRule) -> bool:
        return rule.label == "PERSON_NAME" and bool(self._own_names)

    def _counter(self, label: str, location: Location) -> str:
        name = f"{COUNTER_PREFIX}{len(self._counters)}"
        self._counters[name] = f"{label}/{dotted(location)}"
        return name

    def _is_claimed(self, location: Location) -> bool:
        return any(location[: len(c)] == c for c in self._claimed)

    # -- running ------------------------------------------------------------------------

    def _run_stages(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        if self._as_text:
            frame = frame.with_columns(pl.col(n).cast(t) for n, t in self._as_text.items())
        frame = _run_stages(frame, self._stages)
        frame = frame if self._text_pass is None else self._text_pass.apply(frame)
        frame = _run_stages(frame, self._late_stages)
        if self._restore:
            frame = frame.with_columns(
                restored(pl.col(n), now, target).alias(n)
                for n, (now, target) in self._restore.items()
            )
        return frame


def _seals(rule: PatternRule) -> bool:
    """Whether the rule writes what a later rule could read, when one follows."""
    secret = rule.entity is not None and rule.entity.keyword_gate
    return rule.action == "hash" or (rule.action == "mask" and secret)


def _run_stages(frame: pl.LazyFrame, stages: list[_Stage]) -> pl.LazyFrame:
    for stage in stages:
        frame = _run_stage(frame, stage, frame.collect_schema())
    return frame


def _run_for_leaves(
    stage: _Stage, frame: pl.LazyFrame, leaves: frozenset[Location]
) -> pl.LazyFrame:
    """The stage restricted to some of its text leaves (those with candidates)."""
    subset = _Stage()
    for column, rewrites in stage.rewrites.items():
        for location, rewrite in rewrites.items():
            if location in leaves:
                subset.rewrites.setdefault(column, {})[location] = rewrite
    subset.flags = [flag for flag in stage.flags if flag.location in leaves]
    return _run_stages(frame, [subset])


def _contains(regex: str, label_gate: str, text: pl.Expr) -> pl.Expr:
    if label_gate:
        return text.str.contains(regex) | text.str.contains(label_gate)
    return text.str.contains(regex)


def _run_stage(frame: pl.LazyFrame, stage: _Stage, schema: pl.Schema) -> pl.LazyFrame:
    """One stage: new values beside the old, flags from comparing them, then the swap."""
    staged: dict[str, str] = {}
    news: list[pl.Expr] = []
    for number, (source, rewrites) in enumerate(stage.rewrites.items()):
        new = rebuild(pl.col(source), schema[source], (source,), rewrites)
        if new is not None:
            staged[source] = f"{_STAGED_PREFIX}{number}"
            news.append(new.alias(staged[source]))
    frame = frame.with_columns(news) if news else frame
    flags = [_flag_expr(flag, flag.location[0], staged) for flag in stage.flags]
    swaps = [pl.col(tmp).alias(source) for source, tmp in staged.items()]
    frame = frame.with_columns(*flags, *swaps).drop(list(staged.values()))
    dropped = [c for c in stage.rewrites if c not in staged]
    return frame.drop(dropped) if dropped else frame


def _flag_expr(flag: _Flag, source: str, staged: Mapping[str, str]) -> pl.Expr:
    steps = flag.location[1:]
    old = pl.col(source)
    if flag.compare and source in staged:
        new = pl.col(staged[source])
        before = extract(old, steps)
        if flag.as_text and flag.dtype is not None and ELEMENT not in steps:
            before = actions.as_text(before, flag.dtype)
        elif flag.as_text:
            before = before.cast(_text_type(steps))
        after = extract(new, steps)
        if steps.count(ELEMENT) == 1:
            # Lists of text (`cc`, tags): compared element by element, not list by list.
            changed = lists_differ(before, after)
        else:
            changed = before.ne_missing(after).fill_null(False)
    else:
        changed = any_present(old, steps)
    return changed.alias(flag.counter)


def _text_type(steps: Location) -> pl.DataType:
    """The type of the text values at `steps`: lists of text for each list crossed."""
    dtype: pl.DataType = pl.String()
    for step in steps:
        if step == ELEMENT:
            dtype = pl.List(dtype)
    return dtype


def _whole_map_rewrite(rule: ColumnRule) -> Rewrite:
    """A column rule naming a map: the map goes whole (its keys are data of the kind its
    name says: `phones` {"4155552671": "mobile"}), as the tag where the rule writes one,
    else null (a mask, a hash or a generalisation reads one value, and a map is none)."""

    def rewrite(value: pl.Expr, dtype: pl.DataType) -> pl.Expr | None:
        if rule.action == "drop":
            return None
        if rule.action == "redact":
            label = rule.label if rule.label.isupper() else "REDACTED"
            return actions.whole_value(value, dtype, "redact", label=label)
        return pl.lit(None, dtype=dtype)

    return rewrite


def _whole_value_rewrite(rule: ColumnRule) -> Rewrite:
    def rewrite(value: pl.Expr, dtype: pl.DataType) -> pl.Expr | None:
        if rule.action == "drop":
            return None
        label = rule.label if rule.label.isupper() else "REDACTED"
        return actions.whole_value(
            value,
            dtype,
            rule.action,
            label=label,
            keep_last=rule.keep_last,
            granularity=rule.granularity,
            key=rule.key,
        )

    return rewrite


def _text_rewrite(
    rule: PatternRule, own_names: list[str], verdicts: CandidateFacts | None
) -> Rewrite:
    if own_names:
        own = [pl.col(name) for name in own_names]
        return lambda value, _dtype: rewrite_text_keeping(value, rule, own)
    if verdicts is not None:
        # The export's memory: its look-alikes recur from batch to batch.
        return lambda value, _dtype: rewrite_checked(value, rule, verdicts)
    return lambda value, _dtype: rewrite_text(value, rule)


def _per_distinct_in_lists(location: Location, rewrite: Rewrite) -> Rewrite:
    """`rewrite`, run once per distinct value for the values of a list leaf (see
    distinct_values.rewritten_per_distinct)."""
    if ELEMENT not in location:
        return rewrite

    def per_distinct(value: pl.Expr, dtype: pl.DataType) -> pl.Expr | None:
        return rewritten_per_distinct(value, lambda each: _required(rewrite(each, dtype)))

    return per_distinct


def _required(rewritten: pl.Expr | None) -> pl.Expr:
    # Text rewrites always return an expression (only a column rule's drop gives None).
    assert rewritten is not None
    return rewritten


def _unsealing(rule: PatternRule, written: _Stage) -> _Stage:
    """The stage giving the pseudonyms `written` wrote their own form. It shares its
    counters: it changes only records that stage changed, which count once."""
    stage = _Stage()
    for flag in written.flags:
        stage.add(
            flag.location, lambda value, _dtype: unsealed(value, rule.label, rule.action), flag
        )
    return stage


def _text_rewrites(first: PatternRule, then: PatternRule) -> Rewrite:
    return lambda value, _dtype: rewrite_text(rewrite_text(value, first), then)


def _is_own_name(location: Location, dtype: pl.DataType) -> bool:
    """A top-level text column named like a person's name ("name", "last_name")."""
    spellings = (location[0].lower(), normalised(location[0]))
    return (
        len(location) == 1
        and dtype == pl.String
        and any(fnmatch.fnmatchcase(own, glob) for glob in _NAME_GLOBS for own in spellings)
    )


def _values_by_key(
    value_type: pl.DataType, rule: KeyRule, entry: pl.Expr, _dtype: pl.DataType
) -> pl.Expr:
    return value_by_key(entry, value_type, rule)


def _json_rewrite(regex: str, label: str, kept: str) -> Rewrite:
    return lambda value, _dtype: rewrite_json_keys(value, regex, label, kept)


#: How much of a value a level default's action leaves: when several categories match
#: one name, the default that leaves least wins (ties: the later category).
_STRENGTH: Final = {"redact": 2, "null": 2, "mask": 1, "generalize": 1}


def _is_level_default(rule: ColumnRule) -> bool:
    """A level default's rule (its category's, `SECRET`), not a policy's, template's or
    request's, whose action has a strength."""
    return rule.level_default and rule.action in _STRENGTH


def _default_fits(dtype: pl.DataType, whole_map: bool) -> bool:
    """Level defaults (and policies' and templates' rules) apply to plain values only
    (nested columns are searched inside), whatever their type: one whose action does not
    fit the type fails safe (a birth date stored as a number is generalised if it reads
    as yyyymmdd, else nulled: see actions.generalize), never passes through. A map is
    taken whole (_whole_map_rewrite): its keys hold what its name says as its values do."""
    return whole_map or not is_nested(dtype)


def _default_applies(rule: ColumnRule, dtype: pl.DataType, last_word: str, whole_map: bool) -> bool:
    """Whether a policy's, template's or level default's matching rule applies here."""
    fits = _default_fits(dtype, whole_map)
    return fits and (not _is_level_default(rule) or _holds_a_value(rule, dtype, last_word))


def _holds_a_value(rule: ColumnRule, dtype: pl.DataType, last_word: str) -> bool:
    """Whether a column a level default's category matches can hold its value: never a
    Boolean (one bit holds no birth date, id, card or coordinate: `dob_verified`,
    `ssn_verified`), nor a flag, counter or timestamp about it (`birthday_count`,
    `dob_checked_at`: ColumnCategory.not_values)."""
    return dtype != pl.Boolean and last_word not in _NOT_VALUES.get(rule.label, ())


def _check_fits(
    rule: ColumnRule, location: Location, dtype: pl.DataType, given: pl.DataType
) -> None:
    """Refuse a request's rule whose action cannot apply to `dtype` (the type the rules
    read), naming the type the column was `given` in."""
    where = dotted(location)
    if is_nested(dtype) and rule.action not in _NESTED_ACTIONS:
        raise DataDependentArgument(
            rule.field, f"{rule.action} cannot apply to nested column {quoted(where)} ({given})"
        )
    if rule.action == "generalize" and not actions.generalized_type(dtype, rule.granularity):
        raise DataDependentArgument(
            rule.field,
            f"generalize {quoted(rule.granularity)} cannot apply to column "
            f"{quoted(where)} ({given})",
        )
    if (
        rule.action == "generalize"
        and rule.granularity not in actions.DATE_GRANULARITIES
        and not actions.width_fits(dtype, rule.granularity)
    ):
        # A whole width past a float's reach, exact on an integer column only
        # (redaction_plan._check_options refuses it for every other column).
        raise DataDependentArgument(
            rule.field,
            f"granularity {quoted(rule.granularity)} on column {quoted(where)} ({dtype}): "
            f"{actions.WIDTH_REFUSAL}",
        )
