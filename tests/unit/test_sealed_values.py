"""The values an encrypted export's manifest seals (committed/sealed_values.py): they
round-trip through the manifest's JSON, open only under the key that sealed them, and a
manifest sealed twice is byte-identical (AES-SIV is deterministic)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from sluice.format.json_fields import UnknownFormatVersion
from sluice.format.manifest import (
    IncrementalInfo,
    Manifest,
    QueryInfo,
    SourceInfo,
    TimeRangeInfo,
    Watermark,
)
from sluice.server.committed.sealed_values import (
    PAD_BYTES,
    SealedPlace,
    ValueSealer,
    opened_labels,
    opened_time_range,
    opened_watermark,
    sealed_manifest,
    watermark_place,
)
from sluice.server.errors import FailedPrecondition

SINCE = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
UNTIL = datetime(2026, 2, 3, 4, 5, tzinfo=UTC)
WATERMARK = watermark_place("e2", "people")
SINCE_PLACE = SealedPlace("e2", "people", "incremental.since")


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
    assert opened_watermark(back.watermark, sealer, WATERMARK) == Watermark(
        "email", "zed@example.com", "String"
    )
    assert opened_watermark(back.incremental.since, sealer, SINCE_PLACE) == Watermark(
        "email", "ann@example.com", "String"
    )
    assert opened_labels(back, sealer) == (("about", "ann@example.com"),)
    assert opened_time_range(back, sealer) == TimeRangeInfo("updated_at", SINCE, UNTIL)

    with pytest.raises(FailedPrecondition, match="another content-digest key"):
        opened_watermark(back.watermark, ValueSealer(b"o" * 32), WATERMARK)


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
        assert (
            json.loads(sealed_manifest(only, ValueSealer(b"k" * 32)).to_json())["format_version"]
            == 2
        ), only
    assert json.loads(_manifest().to_json())["format_version"] == 1
    with pytest.raises(UnknownFormatVersion, match=r"format_version 3 .*\(1 or 2\)"):
        Manifest.from_json(stored.replace(b'"format_version": 2', b'"format_version": 3'))


def _sealed(export_id: str, dataset: str, value: str, column: str = "email") -> Manifest:
    return sealed_manifest(
        Manifest(
            export_id=export_id,
            dataset=dataset,
            watermark=Watermark(column, value, "String"),
            labels=(("subject", "case-4711"),),
        ),
        ValueSealer(b"k" * 32),
    )


def test_a_sealed_value_is_bound_to_its_export_dataset_and_column() -> None:
    """Equal values seal to different text for two exports (nothing links them), and a
    sealed value moved into another export's manifest, or to another column or field,
    does not open; the same export sealed again is byte-identical."""
    sealer = ValueSealer(b"k" * 32)
    hr, crm = _sealed("e1", "hr", "z@x.test"), _sealed("e9", "crm", "z@x.test")
    assert hr.sealed_labels != crm.sealed_labels
    assert hr.watermark is not None and crm.watermark is not None
    assert hr.watermark.sealed != crm.watermark.sealed
    assert _sealed("e1", "other", "z@x.test").sealed_labels != hr.sealed_labels
    assert _sealed("e1", "hr", "z@x.test").to_json() == hr.to_json()
    moved = Watermark("email", None, "String", hr.watermark.sealed)
    for place in (
        watermark_place("e9", "hr"),
        watermark_place("e1", "crm"),
        SealedPlace("e1", "hr", "incremental.since"),
    ):
        with pytest.raises(FailedPrecondition, match="for another export"):
            opened_watermark(moved, sealer, place)
    renamed = Watermark("updated_by", None, "String", hr.watermark.sealed)
    with pytest.raises(FailedPrecondition):
        opened_watermark(renamed, sealer, watermark_place("e1", "hr"))
    assert opened_watermark(moved, sealer, watermark_place("e1", "hr")) == Watermark(
        "email", "z@x.test", "String"
    )


def test_a_sealed_value_is_padded_so_its_length_tells_only_a_bucket() -> None:
    short = _sealed("e1", "hr", "a@b.c").watermark
    longer = _sealed("e1", "hr", "a-much-longer-address@example.com").watermark
    assert short is not None and longer is not None
    assert len(short.sealed) == len(longer.sealed)
    longest = _sealed("e1", "hr", "x" * PAD_BYTES).watermark
    assert longest is not None and len(longest.sealed) > len(short.sealed)


def test_a_sealed_manifest_never_holds_a_where_or_query_literal_in_the_clear() -> None:
    """The manifest writer masks them for encrypted exports; sealing masks them too, so no
    caller lays `email = 'ann@example.com'` beside sealed chunks. Masked text stays as it
    is (a real manifest's bytes do not change)."""
    manifest = replace(
        _manifest(),
        query=QueryInfo(where="email = 'ann@example.com' AND age > 41"),
        source=SourceInfo(format="postgres", query="SELECT * FROM t WHERE name = 'Ann'"),
    )
    sealed = sealed_manifest(manifest, ValueSealer(b"k" * 32))
    stored = sealed.to_json()
    for clear in (b"ann@example.com", b"41", b"'Ann'"):
        assert clear not in stored, clear
    assert sealed.query.where == "email = ? AND age > ?"
    assert sealed.source.query == "SELECT * FROM t WHERE name = ?"
    assert sealed_manifest(sealed, ValueSealer(b"k" * 32)).to_json() == stored
