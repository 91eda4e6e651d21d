"""Planning an incremental export: find the parent in the destination (storage is the
source of truth, so this works with an empty job store) and select what is new."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import polars as pl
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sluice.format.manifest import Watermark
from sluice.format.stored_objects import KEY_INDEX_DIGEST_ALGORITHM, KeyIndexEntry
from sluice.server.committed.catalog import CommittedExport
from sluice.server.committed.chain_signatures import verified_latest_export
from sluice.server.committed.chain_tips import ChainTip
from sluice.server.committed.sealed_values import (
    ValueSealer,
    opened_watermark,
    watermark_place,
)
from sluice.server.errors import FailedPrecondition, InvalidArgument, quoted
from sluice.server.planning.key_types import check_key_column_types
from sluice.server.planning.spec import IncrementalSpec
from sluice.server.planning.watermarks import check_cursor, past_watermark
from sluice.sinks.base import Sink

MODES = ("full", "incremental")
_MAX_LOOKBACK = timedelta(days=366)


@dataclass(frozen=True)
class IncrementPlan:
    mode: str
    parent: CommittedExport | None = None
    #: The parent's watermark this export continues from.
    since: Watermark | None = None
    cursor: str = ""
    #: Rows to export (None: all rows).
    predicate: pl.Expr | None = None
    #: Primary key columns: the export writes a key index (and, without a cursor, sends
    #: only inserted and changed rows plus tombstones for deleted ones).
    key: tuple[str, ...] = ()

    @property
    def by_key(self) -> bool:
        """Change detection by key alone (no cursor): deletions become tombstones."""
        return bool(self.key) and not self.cursor

    @property
    def parent_watermark_sealed(self) -> bool:
        """Whether the parent's watermark (`since`, opened) was sealed in its manifest."""
        watermark = self.parent.watermark if self.parent else None
        return watermark is not None and bool(watermark.sealed)

    @property
    def parent_folder(self) -> str:
        return self.parent.manifest_key.rpartition("/")[0] if self.parent else ""

    @property
    def parent_index(self) -> KeyIndexEntry | None:
        return self.parent.key_index if self.parent else None

    @property
    def parent_export_id(self) -> str | None:
        return self.parent.export_id if self.parent else None


def plan_increment(
    spec: IncrementalSpec,
    schema: pl.Schema,
    sink: Sink,
    dataset: str,
    owner: str,
    *,
    verifying_keys: Sequence[Ed25519PublicKey] = (),
    parent: CommittedExport | None = None,
    chain_tip: ChainTip | None = None,
    export_id: str = "",
    sealer: ValueSealer | None = None,
) -> IncrementPlan:
    """Validate the incremental request and compute which rows it exports. The parent is
    the latest export of the dataset made by `owner`, this export's creator: principals
    sharing a dataset each continue their own chain (with none yet, this is the first of
    it). Another creator's export, even one an admin may read, was made from a source
    and with options this caller did not choose: continuing it would send wrong changes
    (tombstones for rows it never had, rows skipped under its watermark) and carry its
    keys and watermark into this export. In a signed chain, or on a server that signs
    (`verifying_keys`: the public half of its manifest_signing_key, then the older keys it
    accepts; none when it signs nothing), the parent is used only once its signature
    verified (committed/chain_signatures.py). `parent`, when given, is that parent,
    found and verified already (planned again under other column types). `chain_tip`:
    the chain's newest export as the job store knows it, whose manifest must still be
    there (committed/chain_tips.py: DATA_LOSS otherwise). `export_id`: this export's,
    whose own manifest (committed by a run cut short before the job store heard of it)
    is never its parent."""
    mode = spec.mode or "full"
    if mode not in MODES:
        raise InvalidArgument("spec.incremental.mode", f"must be one of {', '.join(MODES)}")
    for column in spec.key:
        if column not in schema:
            raise InvalidArgument("spec.incremental.key", f"unknown column {quoted(column)}")
    if len(set(spec.key)) != len(spec.key):
        raise InvalidArgument("spec.incremental.key", "lists a column twice")
    check_key_column_types(spec.key, schema)
    if not 0 <= spec.lookback_seconds <= _MAX_LOOKBACK.total_seconds():
        raise InvalidArgument("spec.incremental.lookback", "must be between 0 and 366 days")
    if mode == "full":
        if spec.cursor:
            check_cursor(schema, spec.cursor)  # the watermark a later incremental starts from
        return IncrementPlan(mode, cursor=spec.cursor, key=spec.key)
    if not spec.cursor and not spec.key:
        raise InvalidArgument(
            "spec.incremental.cursor", "incremental exports need a cursor column or a key"
        )
    if parent is None:
        parent = verified_latest_export(sink, dataset, owner, verifying_keys, chain_tip, export_id)
    if not spec.cursor:
        if spec.lookback_seconds:
            raise InvalidArgument("spec.incremental.lookback", "needs a cursor column")
        _check_parent_index(parent, spec.key)
        return IncrementPlan(mode, parent, key=spec.key)
    dtype = check_cursor(schema, spec.cursor)
    since = parent.watermark if parent else None
    if parent is not None and since is not None and since.sealed:
        # An encrypted parent's: this daemon's content-digest key opens it.
        if sealer is None:
            raise FailedPrecondition(
                f"the parent export {parent.export_id}'s watermark is sealed, and no key "
                "to open it was given"
            )
        since = opened_watermark(since, sealer, watermark_place(parent.export_id, parent.dataset))
    if since is not None and since.column != spec.cursor:
        raise InvalidArgument(
            "spec.incremental.cursor",
            f"the parent export {parent.export_id if parent else ''} tracked "
            f"{quoted(since.column)}, "
            f"not {quoted(spec.cursor)}",
        )
    lookback = timedelta(seconds=spec.lookback_seconds) or None
    predicate = past_watermark(since, dtype, lookback)
    return IncrementPlan(mode, parent, since, spec.cursor, predicate, spec.key)


def _check_parent_index(parent: CommittedExport | None, key: tuple[str, ...]) -> None:
    """A key-only increment compares with its parent's key index: it must have one, over
    the same key (the digest key is checked when the export runs: only it holds keys)."""
    if parent is None:
        return  # the first export of the chain sends every row
    if parent.key_index is None:
        raise FailedPrecondition(
            f"the parent export {parent.export_id} has no key index; start the chain with "
            "a full export with the same key (--mode full --key ...)"
        )
    if parent.key_index.algorithm != KEY_INDEX_DIGEST_ALGORITHM:
        # Its digests could never match this server's: every row would look changed.
        raise FailedPrecondition(
            f"the parent export {parent.export_id}'s key index digests keys with "
            f"{parent.key_index.algorithm!r}, this server with "
            f"{KEY_INDEX_DIGEST_ALGORITHM!r}; start a new chain with a full export"
        )
    if parent.cursor_window:
        # Its index holds only the rows past its parent's watermark: every other row
        # would look inserted (sent again) and their deletions would never be found.
        raise FailedPrecondition(
            f"the parent export {parent.export_id} is a cursor increment, whose key index "
            "covers only the rows it read past its parent's watermark; a key-only "
            f"increment cannot continue it: start a new chain with --mode full --key "
            f"{','.join(key)}"
        )
    tracked = parent.key_index.key
    if tracked != key:
        raise FailedPrecondition(
            f"the parent export {parent.export_id} is keyed by {', '.join(tracked)}, not "
            f"{', '.join(key)}; start a new chain with a full export"
        )
