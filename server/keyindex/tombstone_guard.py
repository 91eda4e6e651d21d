"""Tombstones never name a key the export that writes them sends, nor lose a key.

A consumer applies an export by upserting its records by key, then deleting the
tombstones' keys: a tombstone equal to a key the export holds deletes that row. Keys
digest apart when their type changed (1 and 1.0): planning refuses such increments when
it can tell (server/planning/key_types.py); this guard holds for the rest, such as
chains whose parent recorded no key types. A deleted key is compared as the consumer
will read it: its sealed JSON decoded into this export's key types (strictly: a value
that does not fit them, 70000 in an int16, is FailedPrecondition, never a null key) and
encoded again, by a digest of that text. The export's own keys are already JSON of its
types, digested as they are. Both sides are spilled to digest ranges (memory bounded as
the key pass's), and a deletion whose key the export holds is left out, and counted.
The comparison runs only when there are deletions: the export's keys are read back
then, from the key pass's spill files (RangeSorter.reread). The deletions kept are
spilled once more by their key digest in the parent's index, so that the tombstone file
lists them in that order, as before the guard.

Where no deleted key can equal a sent one (`needed` False: planning/key_types.py
deletions_need_guard), the comparison is skipped: deletions are spilled in that order as
they come, and the export's keys are never read back (about 1.7 CPU s per million keys
on a night with deletions). Except when the night deletes every key of the parent
(`parent_rows`): were a key to digest apart after all, every key the export sends would
look new and every old one deleted, so the comparison runs anyway (a safety net for a
case deletions_need_guard did not foresee; its cost is paid only then).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import polars as pl

from sluice.server.errors import FailedPrecondition, quoted
from sluice.server.keyindex.digests import DIGEST_WIDTHS, KEY_DIGEST, KEY_JSON
from sluice.server.keyindex.sorter import RangeSorter
from sluice.server.pipeline.redaction.actions import sha256_hex

_DELETED = "__sluice_deleted"
#: A deletion's key digest in the parent's index (its order in the tombstone file).
_ORDER = "__sluice_order"


class TombstoneGuard:
    def __init__(
        self,
        folder: Path,
        spill_rows: int,
        key_type: pl.Struct,
        *,
        parent: str,
        parent_types: Mapping[str, str],
        types: Mapping[str, str],
        needed: bool = True,
        parent_rows: int = -1,
    ) -> None:
        """`key_type`: what the export's key JSON decodes into (key_struct_type);
        `parent_types` and `types`: the key columns' types in the parent (as its index
        recorded them, if it did) and in this export, for the error a key that does
        not fit is; `needed`: whether a deleted key may equal one the export sends;
        `parent_rows`: how many keys the parent's index holds (-1: unknown)."""
        for part in ("keys", "kept"):
            (folder / part).mkdir(parents=True, exist_ok=True)
        schema = pl.Schema(
            {KEY_DIGEST: pl.Binary, _DELETED: pl.Boolean, KEY_JSON: pl.String, _ORDER: pl.Binary}
        )
        self._sorter = RangeSorter(folder / "keys", spill_rows, schema)
        self._folder, self._spill_rows = folder, spill_rows
        ordered = pl.Schema({KEY_DIGEST: pl.Binary, KEY_JSON: pl.String})
        self._ordered = RangeSorter(folder / "kept", spill_rows, ordered)
        self._key_type = key_type
        self._parent = parent
        self._parent_types = parent_types
        self._types = types
        self._needed = needed
        self._parent_rows = parent_rows
        self._deletions = False
        self._deleted = 0
        #: Deletions left out, their key being sent (known once kept() is exhausted).
        self.left_out = 0

    def deleted(self, keys: list[str], digests: pl.Series) -> None:
        """Keys (as the parent's index sealed them) of rows the export deletes, and
        their key digests in that index."""
        if not keys:
            return
        self._deletions = True
        self._deleted += len(keys)
        sealed = pl.Series(KEY_JSON, keys, dtype=pl.String)
        if not self._needed:
            # Sealed from values of this export's types: they are already as read.
            self._ordered.add(pl.DataFrame([digests.cast(pl.Binary).alias(KEY_DIGEST), sealed]))
            return
        self._add(self._decoded(sealed).struct.json_encode(), digests, deleted=True)

    def kept(self, held: Iterable[pl.Series]) -> Iterator[list[str]]:
        """The deleted keys that none of the export's keys (`held`, key JSON as the
        key pass made it, read only when there are deletions) equals, as key JSON in
        this export's types, in the parent's key-digest order, one range at a time."""
        if self._deletions and not self._needed and self._deleted == self._parent_rows:
            self._compare_skipped()
        if not self._deletions or not self._needed:
            self._sorter.discard()
        else:
            self._leave_out_sent(held)
        for _, frame in self._ordered.ranges():
            if frame.height:
                yield frame.get_column(KEY_JSON).to_list()

    def _compare_skipped(self) -> None:
        """Every parent key is deleted: the deletions spilled without comparison go
        through it after all (the export's keys, if any, are read back then)."""
        skipped = self._ordered
        (self._folder / "kept-all").mkdir(exist_ok=True)
        self._ordered = RangeSorter(self._folder / "kept-all", self._spill_rows, skipped.schema)
        for _, frame in skipped.ranges():
            sealed = frame.get_column(KEY_JSON)
            self._add(self._decoded(sealed).struct.json_encode(), frame[KEY_DIGEST], deleted=True)
        self._needed = True

    def _leave_out_sent(self, held: Iterable[pl.Series]) -> None:
        """Spill the deletions whose key none of `held` equals, in the parent's order."""
        for keys in held:
            self._add(keys, pl.repeat(None, len(keys), dtype=pl.Binary, eager=True), deleted=False)
        for _, frame in self._sorter.ranges():
            deleted = frame.filter(pl.col(_DELETED))
            if deleted.is_empty():
                continue
            kept = deleted.join(frame.filter(~pl.col(_DELETED)), on=KEY_DIGEST, how="anti")
            self.left_out += deleted.height - kept.height
            self._ordered.add(kept.select(pl.col(_ORDER).alias(KEY_DIGEST), KEY_JSON))

    def _decoded(self, keys: pl.Series) -> pl.Series:
        """Sealed key JSON in this export's key types. Integers and decimals are read as
        text and cast strictly: JSON decoding would give null for a value out of the
        type's range (a tombstone deleting a null key instead of the deleted one)."""
        exact = {f.name: f.dtype for f in self._key_type.fields}
        numeric = [c for c, t in exact.items() if t.is_integer() or isinstance(t, pl.Decimal)]
        lenient = pl.Struct({c: pl.String() if c in numeric else t for c, t in exact.items()})
        frame = keys.str.json_decode(lenient).struct.unnest()
        for column in numeric:
            text = frame.get_column(column)
            cast = text.cast(exact[column], strict=False)
            if (cast.is_null() & text.is_not_null()).any():
                raise FailedPrecondition(
                    f"key column {quoted(column)} is of type {self._types.get(column)}, "
                    f"which cannot hold a key deleted since the parent export {self._parent} "
                    f"(of type {self._parent_types.get(column, 'unrecorded')} there): its "
                    "tombstone could not name it; start a new chain with --mode full"
                )
            frame = frame.with_columns(cast)
        return frame.to_struct(KEY_JSON)

    def _add(self, keys: pl.Series, order: pl.Series, *, deleted: bool) -> None:
        if keys.is_empty():
            return
        width = DIGEST_WIDTHS[KEY_DIGEST]
        frame = pl.DataFrame({KEY_JSON: keys, _ORDER: order.cast(pl.Binary)}).select(
            sha256_hex(pl.col(KEY_JSON).cast(pl.Binary))
            .str.slice(0, 2 * width)
            .str.decode("hex")
            .alias(KEY_DIGEST),
            pl.lit(deleted).alias(_DELETED),
            pl.col(KEY_JSON) if deleted else pl.lit(None, pl.String).alias(KEY_JSON),
            _ORDER,
        )
        self._sorter.add(frame)
