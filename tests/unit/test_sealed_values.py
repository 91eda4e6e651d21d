"""The values an encrypted export's manifest seals (committed/sealed_values.py): they
round-trip through the manifest's JSON, open only under the key that sealed them, and a
manifest sealed twice is byte-identical (AES-SIV is deterministic)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from sluice.format.json_fields import UnknownFormatVersion
from sluice.format.manifest import IncrementalInfo, Manifest, QueryInfo, TimeRangeInfo, Watermark
from sluice.server.committed.sealed_values import (
    ValueSealer,
    opened_labels,
    opened_time_range,
    opened_watermark,
    sealed_manifest,
)
from sluice.server.errors import FailedPrecondition

SINCE = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
UNTIL = datetime(2026, 2, 3, 4, 5, tzinfo=UTC)


def _manifest() -> Manifest:
    return Manifest(
        export_id="e2",
        dataset="people",
        query=QueryInfo(time_range=TimeRangeInfo("updated_at", SINCE, UNTIL)),
        watermark=Watermark("email", "zed@example.com", "String"),
        incremental=IncrementalInfo(
            mode="incremental",
            cursor="email",
            since=Watermark("email", "ann@example.com", "String"),
        ),
        labels=(("about", "ann@example.com"),),
    )


def test_sealed_values_round_trip_and_open_under_their_key_only() -> None:
    sealer = ValueSealer(b"k" * 32)
    stored = sealed_manifest(_manifest(), sealer).to_json()
    assert stored == sealed_manifest(_manifest(), sealer).to_json()
    for clear in (b"example.com", b"2026-01-02", b"2026-02-03"):
        assert clear not in stored
    back = Manifest.from_json(stored)
    assert back.watermark is not None and back.watermark.value is None
    assert back.watermark.column == "email" and back.query.time_range is not None
    assert opened_watermark(back.watermark, sealer, "e2") == Watermark(
        "email", "zed@example.com", "String"
    )
    assert opened_watermark(back.incremental.since, sealer, "e2") == Watermark(
        "email", "ann@example.com", "String"
    )
    assert opened_labels(back, sealer) == (("about", "ann@example.com"),)
    assert opened_time_range(back, sealer) == TimeRangeInfo("updated_at", SINCE, UNTIL)

    with pytest.raises(FailedPrecondition, match="another content-digest key"):
        opened_watermark(back.watermark, ValueSealer(b"o" * 32), "e2")


def test_a_manifest_without_sealed_values_keeps_its_bytes() -> None:
    plain = _manifest()
    assert Manifest.from_json(plain.to_json()).to_json() == plain.to_json()
    assert b"sealed" not in plain.to_json()


def test_a_manifest_holding_sealed_values_is_format_version_2() -> None:
    """A Sluice reading only version 1 would take a sealed watermark for none and send
    every row again as an increment: version 2 makes it refuse the manifest instead."""
    stored = sealed_manifest(_manifest(), ValueSealer(b"k" * 32)).to_json()
    assert json.loads(stored)["format_version"] == 2
    back = Manifest.from_json(stored)
    assert back.format_version == 2 and back.to_json() == stored
    for only in (
        Manifest(export_id="e", labels=(("a", "b"),)),
        Manifest(export_id="e", watermark=Watermark("email", "a@b.c", "String")),
        Manifest(export_id="e", query=QueryInfo(time_range=TimeRangeInfo("t", SINCE))),
    ):
        assert json.loads(sealed_manifest(only, ValueSealer(b"k" * 32)).to_json())[
            "format_version"
        ] == 2, only
    assert json.loads(_manifest().to_json())["format_version"] == 1
    with pytest.raises(UnknownFormatVersion, match=r"format_version 3 .*\(1 or 2\)"):
        Manifest.from_json(stored.replace(b'"format_version": 2', b'"format_version": 3'))
