"""The tombstone guard's comparison (a deleted key against every key the export sends)
is skipped only where no deleted key can equal a sent one: the parent recorded exactly
these key types, the key holds no floating-point value (NaN, inf and null all write JSON
null, yet digest apart) and redaction leaves it as it is. Skipped, the guard writes the
same tombstones in the same order and never reads the export's keys back."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from sluice.format.stored_objects import KeyIndexEntry
from sluice.server.committed.catalog import CommittedExport
from sluice.server.keyindex.digests import key_struct_type
from sluice.server.keyindex.tombstone_guard import TombstoneGuard
from sluice.server.planning.incremental_plan import IncrementPlan
from sluice.server.planning.key_types import deletions_need_guard, recorded_key_types
from sluice.server.planning.redaction_plan import build_redactor
from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import rule, settings_with_keys


def _increment(recorded: tuple[tuple[str, str], ...]) -> IncrementPlan:
    index = KeyIndexEntry("index.arrows", key=("id",), key_types=recorded)
    parent = CommittedExport(
        "20261201T000000Z-000000000000", "items", "items/x/manifest.json", "", "", None,
        3, 1, 100, None, key_index=index,
    )  # fmt: skip
    return IncrementPlan("incremental", parent, key=("id",))


_INT = pl.Schema({"id": pl.Int64, "name": pl.String})
_TEXT = pl.Schema({"id": pl.String, "name": pl.String})
_NESTED = pl.Schema({"id": pl.Struct({"a": pl.Int32, "b": pl.List(pl.String)})})
_NESTED_FLOAT = pl.Schema({"id": pl.Struct({"a": pl.Int64, "b": pl.List(pl.Float32)})})


@pytest.mark.parametrize(
    ("schema", "redaction", "recorded", "needed"),
    [
        (_INT, RedactionSpec(), None, False),
        (_TEXT, RedactionSpec(), None, False),
        (_NESTED, RedactionSpec(), None, False),
        # Redaction may turn two keys into one exported value.
        (_TEXT, RedactionSpec(level="moderate"), None, True),
        (_INT, RedactionSpec(level="custom", rules=(rule("column=id:hash"),)), None, True),
        (_TEXT, RedactionSpec(level="custom", rules=(rule("column=id:mask:2"),)), None, True),
        # A rule on another column leaves the key as it is.
        (_INT, RedactionSpec(level="custom", rules=(rule("column=name:mask:2"),)), None, False),
        # NaN and null keys are one JSON null.
        (pl.Schema({"id": pl.Float64}), RedactionSpec(), None, True),
        (_NESTED_FLOAT, RedactionSpec(), None, True),
        # Other (or unrecorded) parent types: the guard is what holds.
        (_INT, RedactionSpec(), (("id", "int32"),), True),
        (_INT, RedactionSpec(), (), True),
    ],
)  # fmt: skip
def test_the_comparison_is_skipped_only_where_no_deleted_key_can_be_sent(
    schema: pl.Schema,
    redaction: RedactionSpec,
    recorded: tuple[tuple[str, str], ...] | None,
    needed: bool,
    tmp_path: Path,
) -> None:
    settings = settings_with_keys(tmp_path, default=b"0123456789abcdef0123456789abcdef")
    redactor = build_redactor(redaction, schema, settings)
    types = recorded_key_types(("id",), schema) if recorded is None else recorded
    exported = redactor.output_schema(schema)
    assert deletions_need_guard(_increment(types), schema, exported, redactor) is needed


def _deletions(count: int, seed: int) -> tuple[list[str], pl.Series]:
    """Sealed key JSON of deleted int64 keys and their (random) key digests."""
    keys = [f'{{"id":{seed * 1_000_000 + n}}}' for n in range(count)]
    return keys, pl.Series([os.urandom(16) for _ in keys], dtype=pl.Binary)


def _guard(folder: Path, *, needed: bool, parent_rows: int = -1) -> TombstoneGuard:
    return TombstoneGuard(
        folder,
        1000,
        key_struct_type(("id",), {"id": pl.Int64}),
        parent="p",
        parent_types={"id": "int64"},
        types={"id": "int64"},
        needed=needed,
        parent_rows=parent_rows,
    )


def test_a_skipped_comparison_writes_the_same_tombstones_without_reading_sent_keys(
    tmp_path: Path,
) -> None:
    batches = [_deletions(700, 1), _deletions(900, 2)]
    sent = [pl.Series([f'{{"id":{n}}}' for n in range(5000)], dtype=pl.String)]

    guarded = _guard(tmp_path / "guarded", needed=True)
    for keys, digests in batches:
        guarded.deleted(keys, digests)
    expected = [key for part in guarded.kept(iter(sent)) for key in part]

    def never_read() -> Iterator[pl.Series]:
        raise AssertionError("the export's keys were read back")
        yield pl.Series()  # pragma: no cover

    skipped = _guard(tmp_path / "skipped", needed=False)
    for keys, digests in batches:
        skipped.deleted(keys, digests)
    assert [key for part in skipped.kept(never_read()) for key in part] == expected
    assert len(expected) == 1600
    assert (guarded.left_out, skipped.left_out) == (0, 0)


def test_a_night_deleting_every_parent_key_compares_anyway(tmp_path: Path) -> None:
    # Safety net: were the skip wrong (a deleted key the export sends), a night deleting
    # all of the parent's keys while sending rows is what it would look like; the
    # comparison then runs and leaves out the deletions of keys the export sends.
    batches = [_deletions(700, 1), _deletions(900, 2)]
    every = [key for keys, _ in batches for key in keys]
    sent = [pl.Series([*every[:1000], '{"id":5}'], dtype=pl.String)]

    guard = _guard(tmp_path / "net", needed=False, parent_rows=1600)
    for keys, digests in batches:
        guard.deleted(keys, digests)
    kept = [key for part in guard.kept(iter(sent)) for key in part]
    assert sorted(kept) == sorted(every[1000:])
    assert guard.left_out == 1000

    # Order kept: the parent's key-digest order, as the skipped path writes it.
    fewer = _guard(tmp_path / "skip", needed=False)
    for keys, digests in batches:
        fewer.deleted(keys, digests)
    assert [k for k in (key for part in fewer.kept(iter(())) for key in part) if k in kept] == kept
