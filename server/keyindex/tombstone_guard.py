"""Tombstones never name a key the export that writes them sends.

A consumer applies an export by upserting its records by key, then deleting the
tombstones' keys: a tombstone equal to a sent key deletes that row. Keys digest apart
when their type changed (1 and 1.0): planning refuses such increments when it can tell
(server/planning/key_types.py); this guard holds for the rest, such as chains whose
parent recorded no key types. Every sent key and every deleted one is compared as the
consumer will read it, its JSON decoded into this export's key types and encoded
again, by a digest of that text: both sides are spilled to digest ranges (memory
bounded as the key pass's), and a deletion whose key is also sent is left out, and
counted. The deletions kept are spilled once more by their key digest in the parent's
index, so that the tombstone file lists them in that order, as before the guard.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl

from sluice.server.keyindex.digests import DIGEST_WIDTHS, KEY_DIGEST, KEY_JSON
from sluice.server.keyindex.sorter import RangeSorter
from sluice.server.pipeline.redaction.actions import sha256_hex

_DELETED = "__sluice_deleted"
#: A deletion's key digest in the parent's index (its order in the tombstone file).
_ORDER = "__sluice_order"


class TombstoneGuard:
    def __init__(self, folder: Path, spill_rows: int, key_type: pl.Struct) -> None:
        for part in ("keys", "kept"):
            (folder / part).mkdir(parents=True, exist_ok=True)
        schema = pl.Schema(
            {KEY_DIGEST: pl.Binary, _DELETED: pl.Boolean, KEY_JSON: pl.String, _ORDER: pl.Binary}
        )
        self._sorter = RangeSorter(folder / "keys", spill_rows, schema)
        ordered = pl.Schema({KEY_DIGEST: pl.Binary, KEY_JSON: pl.String})
        self._ordered = RangeSorter(folder / "kept", spill_rows, ordered)
        self._key_type = key_type
        self._deletions = False
        #: Deletions left out, their key being sent (known once kept() is exhausted).
        self.left_out = 0

    def sent(self, keys: pl.Series) -> None:
        """Keys (as the index seals them) of rows the export sends."""
        self._add(keys, pl.repeat(None, len(keys), dtype=pl.Binary, eager=True), deleted=False)

    def deleted(self, keys: list[str], digests: pl.Series) -> None:
        """Keys (as the parent's index sealed them) of rows the export deletes, and
        their key digests in that index."""
        self._deletions = self._deletions or bool(keys)
        self._add(pl.Series(KEY_JSON, keys, dtype=pl.String), digests, deleted=True)

    def kept(self) -> Iterator[list[str]]:
        """The deleted keys no sent key equals, as key JSON in this export's types, in
        the parent's key-digest order, one digest range at a time."""
        if not self._deletions:
            self._sorter.discard()
            return
        for _, frame in self._sorter.ranges():
            deleted = frame.filter(pl.col(_DELETED))
            if deleted.is_empty():
                continue
            kept = deleted.join(frame.filter(~pl.col(_DELETED)), on=KEY_DIGEST, how="anti")
            self.left_out += deleted.height - kept.height
            self._ordered.add(kept.select(pl.col(_ORDER).alias(KEY_DIGEST), KEY_JSON))
        for _, frame in self._ordered.ranges():
            if frame.height:
                yield frame.get_column(KEY_JSON).to_list()

    def _add(self, keys: pl.Series, order: pl.Series, *, deleted: bool) -> None:
        if keys.is_empty():
            return
        read = keys.alias(KEY_JSON).str.json_decode(self._key_type).struct.json_encode()
        width = DIGEST_WIDTHS[KEY_DIGEST]
        frame = pl.DataFrame({KEY_JSON: read, _ORDER: order.cast(pl.Binary)}).select(
            sha256_hex(pl.col(KEY_JSON).cast(pl.Binary))
            .str.slice(0, 2 * width)
            .str.decode("hex")
            .alias(KEY_DIGEST),
            pl.lit(deleted).alias(_DELETED),
            pl.col(KEY_JSON) if deleted else pl.lit(None, pl.String).alias(KEY_JSON),
            _ORDER,
        )
        self._sorter.add(frame)
