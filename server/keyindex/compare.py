"""Record-level comparison of two key indexes, one digest range at a time: a full join on
the key digest says, per key, whether it was added, removed, changed or unchanged, and
which columns changed (by their column digests, so without any value)."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from sluice.server.keyindex.digests import COLUMN_PREFIX, KEY_DIGEST, ROW_DIGEST

CHANGE = "change"
CHANGED_COLUMNS = "changed_columns"
ADDED, REMOVED, CHANGED, UNCHANGED = "added", "removed", "changed", "unchanged"
#: Suffix of the base side's columns in a comparison.
BASE = "@base"


def digest_columns(schema: pl.Schema) -> list[str]:
    """Exported column names whose digests an index holds, in index order."""
    return [n.removeprefix(COLUMN_PREFIX) for n in schema.names() if n.startswith(COLUMN_PREFIX)]


def compare_range(base: pl.DataFrame, other: pl.DataFrame) -> pl.DataFrame:
    """Join one digest range of `base` (earlier) and `other` (later) on the key digest.

    The result holds KEY_DIGEST, CHANGE, every column of `other` as is and every column
    of `base` suffixed with BASE."""
    renamed = base.rename({n: n + BASE for n in base.columns if n != KEY_DIGEST})
    joined = other.join(renamed, on=KEY_DIGEST, how="full", coalesce=True)
    change = (
        pl.when(pl.col(ROW_DIGEST).is_null())
        .then(pl.lit(REMOVED))
        .when(pl.col(ROW_DIGEST + BASE).is_null())
        .then(pl.lit(ADDED))
        .when(pl.col(ROW_DIGEST) != pl.col(ROW_DIGEST + BASE))
        .then(pl.lit(CHANGED))
        .otherwise(pl.lit(UNCHANGED))
    )
    return joined.with_columns(change.alias(CHANGE))


def with_changed_columns(compared: pl.DataFrame) -> pl.DataFrame:
    """Add CHANGED_COLUMNS to compare_range's rows: the columns whose digests differ, in
    the later export's order (a column only one side has counts as changed); empty
    unless the row changed. Filter the rows first: this costs per row."""
    other = digest_columns(compared.select(pl.exclude(f"^.*{BASE}$")).schema)
    base = [
        c.removesuffix(BASE) for c in digest_columns(compared.select(pl.col(f"^.*{BASE}$")).schema)
    ]
    return compared.with_columns(_changed_columns(base, other).alias(CHANGED_COLUMNS))


def _changed_columns(base: Sequence[str], other: Sequence[str]) -> pl.Expr:
    names = list(other) + [c for c in base if c not in other]
    flags = []
    for name in names:
        if name in base and name in other:
            differs = pl.col(COLUMN_PREFIX + name).ne_missing(pl.col(COLUMN_PREFIX + name + BASE))
        else:
            differs = pl.lit(True)
        flags.append(pl.when(differs).then(pl.lit(name)))
    listed = pl.concat_list(flags).list.drop_nulls() if flags else pl.lit([], pl.List(pl.String))
    return (
        pl.when(pl.col(CHANGE) == CHANGED)
        .then(listed)
        .otherwise(pl.lit([], dtype=pl.List(pl.String)))
    )
