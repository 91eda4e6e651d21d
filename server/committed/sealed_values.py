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
from dataclasses import replace
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sluice.format.manifest import Manifest, TimeRangeInfo, Watermark
from sluice.server.errors import FailedPrecondition
from sluice.server.secrets import load_or_create_key
from sluice.server.settings import Settings

_INFO = b"sluice sealed manifest values v1"


class ValueSealer:
    """Seals JSON values for the daemon holding `content_key`, and opens them."""

    def __init__(self, content_key: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=_INFO).derive(content_key)
        self._cipher = AESSIV(key)

    def seal(self, what: str, value: Any) -> str:
        """`value` as base64 text only this sealer opens, bound to `what` (so a sealed
        label cannot be passed off as a watermark)."""
        plain = json.dumps(value, sort_keys=True, allow_nan=False).encode()
        return base64.b64encode(self._cipher.encrypt(plain, [what.encode()])).decode()

    def open(self, what: str, sealed: str, export_id: str) -> Any:
        try:
            plain = self._cipher.decrypt(base64.b64decode(sealed, validate=True), [what.encode()])
            return json.loads(plain)
        except (InvalidTag, binascii.Error, ValueError):
            raise FailedPrecondition(
                f"the {what} of export {export_id} is sealed under another content-digest "
                "key (manifest content_digest.key_id) or damaged: configure the "
                "content_digest_key it was written with, or start a new chain with a full "
                "export"
            ) from None


def daemon_sealer(settings: Settings) -> ValueSealer:
    """The sealer of this daemon's content-digest key (as the daemon loads it at start)."""
    key = load_or_create_key(
        settings.content_digest_key, settings.state_dir / "keys" / "content-digest.key"
    )
    return ValueSealer(key)


def sealed_watermark(watermark: Watermark | None, sealer: ValueSealer) -> Watermark | None:
    if watermark is None or watermark.sealed:
        return watermark
    return Watermark(
        watermark.column, None, watermark.dtype, sealer.seal("watermark", watermark.value)
    )


def opened_watermark(
    watermark: Watermark | None, sealer: ValueSealer, export_id: str
) -> Watermark | None:
    if watermark is None or not watermark.sealed:
        return watermark
    value = sealer.open("watermark", watermark.sealed, export_id)
    return Watermark(watermark.column, value, watermark.dtype)


def sealed_manifest(manifest: Manifest, sealer: ValueSealer) -> Manifest:
    """`manifest` with its watermarks, labels and time range bounds sealed."""
    query = manifest.query
    time_range = query.time_range
    if time_range is not None and (time_range.since or time_range.until):
        bounds = {"since": _iso(time_range.since), "until": _iso(time_range.until)}
        time_range = TimeRangeInfo(time_range.column, sealed=sealer.seal("time range", bounds))
    incremental = manifest.incremental
    return replace(
        manifest,
        watermark=sealed_watermark(manifest.watermark, sealer),
        incremental=replace(incremental, since=sealed_watermark(incremental.since, sealer)),
        query=replace(query, time_range=time_range),
        labels=(),
        sealed_labels=sealer.seal("labels", dict(manifest.labels)) if manifest.labels else "",
    )


def opened_labels(manifest: Manifest, sealer: ValueSealer) -> tuple[tuple[str, str], ...]:
    """The manifest's labels, opened when sealed."""
    if not manifest.sealed_labels:
        return manifest.labels
    opened = sealer.open("labels", manifest.sealed_labels, manifest.export_id)
    if not isinstance(opened, Mapping):
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in opened.items()))


def opened_time_range(manifest: Manifest, sealer: ValueSealer) -> TimeRangeInfo | None:
    """The manifest's time range, its bounds opened when sealed."""
    time_range = manifest.query.time_range
    if time_range is None or not time_range.sealed:
        return time_range
    opened = sealer.open("time range", time_range.sealed, manifest.export_id)
    bounds = opened if isinstance(opened, Mapping) else {}
    return TimeRangeInfo(time_range.column, _time(bounds.get("since")), _time(bounds.get("until")))


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None
