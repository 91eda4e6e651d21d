"""The zone of a fixed-offset timestamp column ("+02:00") where UTC would break what an
earlier daemon began.

Every reader now relabels fixed offsets UTC (pipeline/fixed_offsets.py). Before, Polars
read a whole-hour offset as Etc/GMT∓N and exports carried that type. The same instants
then export under another type, and the column's digest (its value as text: "+02:00"
against "+00:00") differs, so:

- a chain whose parent listed the column as Etc/GMT∓N keeps that type (parent_zones):
  otherwise its first increment reported every row updated, changed the column's type
  within the chain (readers of its parts failed with a schema mismatch), and refused
  every increment keyed by the column (its key type changed);
- a run resuming an export whose first run read offsets the former way keeps reading
  them so (former_zones): its chunks and its first run's key pass were made so.

Casting UTC to Etc/GMT∓N keeps each instant; only the label changes. A new chain, or
an export begun on this daemon, reads them as UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import polars as pl

from sluice.format.manifest import SchemaField
from sluice.server.pipeline.fixed_offsets import former_zone

#: A manifest's spelling of a timestamp column in a POSIX whole-hour zone.
_LISTED = re.compile(r"timestamp\[(s|ms|us|ns), tz=(Etc/GMT[+-]\d{1,2})\]")


def parent_zones(
    offsets: Iterable[tuple[str, str]], schema: pl.Schema, parent: Sequence[SchemaField]
) -> dict[str, pl.Datetime]:
    """The types the fixed-offset columns `offsets` (source column, offset) keep in a
    chain whose parent's manifest lists `parent`: those listed in an Etc/GMT∓N zone, of
    the unit they have in `schema`, keep that zone."""
    listed = {field.name: field.type for field in parent}
    kept: dict[str, pl.Datetime] = {}
    for column, _ in offsets:
        found = _LISTED.fullmatch(listed.get(column, ""))
        dtype = schema.get(column)
        if found and isinstance(dtype, pl.Datetime) and dtype.time_unit == found.group(1):
            kept[column] = pl.Datetime(dtype.time_unit, found.group(2))
    return kept


def former_zones(offsets: Iterable[tuple[str, str]], schema: pl.Schema) -> dict[str, pl.Datetime]:
    """The types the fixed-offset columns `offsets` had before readers relabelled them
    UTC: Etc/GMT∓N for a whole-hour offset (others were read as UTC then too, or
    refused)."""
    kept: dict[str, pl.Datetime] = {}
    for column, offset in offsets:
        zone = former_zone(offset)
        dtype = schema.get(column)
        if zone is not None and isinstance(dtype, pl.Datetime):
            kept[column] = pl.Datetime(dtype.time_unit, zone)
    return kept


def with_zones(schema: pl.Schema, zones: Mapping[str, pl.Datetime]) -> pl.Schema:
    """`schema` with the columns of `zones` of those types."""
    return pl.Schema({name: zones.get(name, dtype) for name, dtype in schema.items()})
