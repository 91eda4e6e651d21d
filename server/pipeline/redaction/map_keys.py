"""A map's values under keys a column rule names, as in JSON text.

A map's keys are data, not schema: `attrs` {"password": "hunter2", "ssn": "078051120"}
names what each value holds only in its rows. The column rules that replace a JSON
value under a key they name (json_keys.py) replace a map's value under such a key the
same way, by the same key patterns: text becomes the rule's tag, a value of another type
null (a map's values share one type), a null stays null.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import polars as pl

from sluice.server.pipeline.redaction.actions import tag
from sluice.server.pipeline.redaction.list_forms import MAP_KEY, MAP_VALUE


@dataclass(frozen=True)
class KeyRule:
    label: str
    #: json_keys.json_key_regex of the rules: a JSON pair whose key they name.
    regex: str
    #: json_keys.json_kept_key_regex: keys those rules leave (`dateOfBirthVerified`).
    kept: str


def value_by_key(entry: pl.Expr, value_type: pl.DataType, rule: KeyRule) -> pl.Expr:
    """A map entry (its key/value struct) with its value replaced where the rule names
    its text key."""
    key = entry.struct.field(MAP_KEY)
    value = entry.struct.field(MAP_VALUE)
    # A map's keys repeat from entry to entry (a few names): each is read once.
    named = key.map_batches(
        partial(_named, rule=rule), return_dtype=pl.Boolean, is_elementwise=True
    )
    written = pl.lit(tag(rule.label)) if value_type == pl.String else pl.lit(None, value_type)
    new = pl.when(named & value.is_not_null()).then(written).otherwise(value)
    return pl.struct(key.alias(MAP_KEY), new.alias(MAP_VALUE))


def _named(keys: pl.Series, rule: KeyRule) -> pl.Series:
    """Per key: whether the rule names it (read per distinct key)."""
    distinct = keys.drop_nulls().unique()
    # The key as a JSON pair, which the rules' key patterns read.
    escaped = pl.col("k").str.replace_all("\\", "\\\\", literal=True)
    pair = pl.concat_str(
        pl.lit('"'), escaped.str.replace_all('"', '\\"', literal=True), pl.lit('": ""')
    )
    named = pair.str.contains(rule.regex)
    if rule.kept:
        named = named & ~pair.str.contains(rule.kept)
    found = distinct.to_frame("k").select(named).to_series()
    chosen = distinct.filter(found)
    return keys.is_in(chosen.implode()).fill_null(False).alias(keys.name)
