"""Values of an encrypted export's manifest kept from the clear: its watermark (and the
parent's it continued from, incremental.since), its labels and its time range's bounds.

The manifest lies in the clear beside the sealed chunks, and these are the source's or
the caller's values (a cursor on `email` or `updated_by` makes the watermark a person's
address or name; labels and bounds say whom or when an export is about). What verify,
diff and chains read without any key stays in the clear: the cursor column and its type,
the time range's column, totals, chunks and digests. The values are sealed with AES-SIV
(deterministic: a manifest built again is byte-identical) under a key derived from the
server's content-digest key, which the manifest names (content_digest.key_id); only a
daemon holding that key opens them, to continue the chain (after a restart too: the key
lives in the state folder or the configuration, like the key index's seal key).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sluice.format.manifest import Manifest, TimeRangeInfo, Watermark
from sluice.server.errors import FailedPrecondition
from sluice.server.execution.masked_sql import masked_literals
from sluice.server.secrets import load_or_create_key
from sluice.server.settings import Settings

_INFO = b"sluice sealed manifest values v1"
#: Sealed plaintexts are padded with spaces (after the JSON, which ignores them) to a
#: multiple of this many bytes: a sealed watermark's length tells no more than which
#: bucket its value falls in (most addresses and names: the first).
PAD_BYTES = 64


@dataclass(frozen=True)
class SealedPlace:
    """Where a sealed value belongs, bound into its associated data: a value sealed for
    one export, dataset, field or cursor column opens nowhere else (moved into another
    manifest or field, it fails as under another key), and equal values sealed for two
    exports differ. Deterministic all the same: a manifest built again for the same
    export is byte-identical."""

    export_id: str
    dataset: str
    #: "watermark", "incremental.since", "labels", "time range".
    what: str
    #: The watermark's cursor column or the time range's column ("" for labels).
    column: str = ""

    def associated_data(self) -> list[bytes]:
        parts = (self.what, self.export_id, self.dataset, self.column)
        return [_INFO, *(part.encode() for part in parts)]


class ValueSealer:
    """Seals JSON values for the daemon holding `content_key`, and opens them."""

    def __init__(self, content_key: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=_INFO).derive(content_key)
        self._cipher = AESSIV(key)

    def seal(self, place: SealedPlace, value: Any) -> str:
        """`value` as base64 text only this sealer opens, and only for `place`."""
        plain = json.dumps(value, sort_keys=True, allow_nan=False).encode()
        padded = plain.ljust(-(-len(plain) // PAD_BYTES) * PAD_BYTES or PAD_BYTES)
        return base64.b64encode(self._cipher.encrypt(padded, place.associated_data())).decode()

    def open(self, place: SealedPlace, sealed: str) -> Any:
        try:
            plain = self._cipher.decrypt(
                base64.b64decode(sealed, validate=True), place.associated_data()
            )
            return json.loads(plain)
        except (InvalidTag, binascii.Error, ValueError):
            raise FailedPrecondition(
                f"the {place.what} of export {place.export_id} is sealed under another "
                "content-digest key (manifest content_digest.key_id), for another export, "
                "or damaged: configure the content_digest_key it was written with, or "
                "start a new chain with a full export"
            ) from None


def daemon_sealer(settings: Settings) -> ValueSealer:
    """The sealer of this daemon's content-digest key (as the daemon loads it at start)."""
    key = load_or_create_key(
        settings.content_digest_key, settings.state_dir / "keys" / "content-digest.key"
    )
    return ValueSealer(key)


def sealed_watermark(
    watermark: Watermark | None, sealer: ValueSealer, place: SealedPlace
) -> Watermark | None:
    """`watermark` sealed for `place` (its cursor column bound in too)."""
    if watermark is None or watermark.sealed:
        return watermark
    bound = replace(place, column=watermark.column)
    return Watermark(watermark.column, None, watermark.dtype, sealer.seal(bound, watermark.value))


def opened_watermark(
    watermark: Watermark | None, sealer: ValueSealer, place: SealedPlace
) -> Watermark | None:
    """`watermark` opened, when sealed, as `place`'s (the column it names bound in)."""
    if watermark is None or not watermark.sealed:
        return watermark
    value = sealer.open(replace(place, column=watermark.column), watermark.sealed)
    return Watermark(watermark.column, value, watermark.dtype)


def watermark_place(export_id: str, dataset: str) -> SealedPlace:
    """Where export `export_id`'s own watermark is sealed."""
    return SealedPlace(export_id, dataset, "watermark")


def sealed_manifest(manifest: Manifest, sealer: ValueSealer) -> Manifest:
    """`manifest` with its watermarks, labels and time range bounds sealed, and its SQL
    text's literals masked."""
    export_id, dataset = manifest.export_id, manifest.dataset
    query = manifest.query
    time_range = query.time_range
    if time_range is not None and (time_range.since or time_range.until):
        bounds = {"since": _iso(time_range.since), "until": _iso(time_range.until)}
        place = SealedPlace(export_id, dataset, "time range", time_range.column)
        time_range = TimeRangeInfo(time_range.column, sealed=sealer.seal(place, bounds))
    # The manifest writer records SQL with its literals masked for any encrypted export
    # (execution/manifest_writer.py, with the SQLite columns it knows): masked again here,
    # which leaves masked text as it is, so that no caller seals a manifest beside the
    # chunks with a `where` (`email = 'ann@example.com'`) or query still in the clear.
    query = replace(query, where=masked_literals(query.where))
    source = manifest.source
    if source.query:
        source = replace(source, query=masked_literals(source.query))
    labels = dict(manifest.labels)
    return replace(
        sealed_chain_values(manifest, sealer),
        source=source,
        query=replace(query, time_range=time_range),
        labels=(),
        sealed_labels=sealer.seal(SealedPlace(export_id, dataset, "labels"), labels)
        if labels
        else manifest.sealed_labels,
    )


def sealed_chain_values(manifest: Manifest, sealer: ValueSealer) -> Manifest:
    """`manifest` with its watermark and the parent's it continued from (incremental.since)
    sealed: an encrypted export's, and an unencrypted increment's on an encrypted parent,
    whose since is the parent's sealed watermark opened (and its own watermark that value
    when it found no newer rows): written in the clear, the unencrypted export would undo
    its parent's sealing."""
    export_id, dataset = manifest.export_id, manifest.dataset
    since_place = SealedPlace(export_id, dataset, "incremental.since")
    incremental = manifest.incremental
    return replace(
        manifest,
        watermark=sealed_watermark(manifest.watermark, sealer, watermark_place(export_id, dataset)),
        incremental=replace(
            incremental, since=sealed_watermark(incremental.since, sealer, since_place)
        ),
    )


def opened_labels(manifest: Manifest, sealer: ValueSealer) -> tuple[tuple[str, str], ...]:
    """The manifest's labels, opened when sealed."""
    if not manifest.sealed_labels:
        return manifest.labels
    place = SealedPlace(manifest.export_id, manifest.dataset, "labels")
    opened = sealer.open(place, manifest.sealed_labels)
    if not isinstance(opened, Mapping):
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in opened.items()))


def opened_time_range(manifest: Manifest, sealer: ValueSealer) -> TimeRangeInfo | None:
    """The manifest's time range, its bounds opened when sealed."""
    time_range = manifest.query.time_range
    if time_range is None or not time_range.sealed:
        return time_range
    place = SealedPlace(manifest.export_id, manifest.dataset, "time range", time_range.column)
    opened = sealer.open(place, time_range.sealed)
    bounds = opened if isinstance(opened, Mapping) else {}
    return TimeRangeInfo(time_range.column, _time(bounds.get("since")), _time(bounds.get("until")))


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None
