"""Incremental chains through a real daemon on cursors whose values Python's own types
cannot hold exactly: nanosecond datetimes (naive and with a time zone), Decimals, and
floats with NaN and infinities. Re-running a night over an unchanged source sends
nothing; a later row is sent alone; the manifest is strict JSON."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from sluice.client import ExportClient
from sluice.client._errors import ExportFailedError
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.integration.helpers import load_manifest, manifest_path, read_export

pytestmark = pytest.mark.integration

_NS_BASE = 1_764_547_200_000_000_000  # 2025-12-01T00:00:00Z in nanoseconds


def _night(client: ExportClient, daemon: Daemon, name: str, mode: str) -> pb.Export:
    spec = ExportClient.build_spec(
        source=str(daemon.sources / f"{name}.parquet"),
        to=str(daemon.exports),
        dataset=name,
        format="jsonl",
        chunk_rows=1_000,
        incremental=pb.Incremental(mode=mode, cursor="c"),
    )
    export = client.wait(client.create(spec).id, timeout=120)
    assert export.state == pb.EXPORT_STATE_SUCCEEDED, export.error.message
    return export


def _ids(export: pb.Export) -> list[int]:
    frame = read_export(export.manifest_uri)
    return sorted(frame["id"].to_list()) if frame.height else []


def _strict_manifest(export: pb.Export) -> dict[str, Any]:
    def refuse(constant: str) -> None:
        raise AssertionError(f"manifest.json holds {constant}, which is not JSON")

    text = manifest_path(export.manifest_uri).read_text()
    return json.loads(text, parse_constant=refuse)  # type: ignore[no-any-return]


def _ns(values: list[int], time_zone: str | None = None) -> pl.Series:
    return pl.Series("c", values, dtype=pl.Int64).cast(pl.Datetime("ns", time_zone))


def _chain(
    client: ExportClient, daemon: Daemon, name: str, first: pl.Series, later: pl.Series
) -> tuple[pb.Export, pb.Export, pb.Export]:
    """Night 1 full, night 2 over the unchanged source, night 3 with one more row (id 99)."""
    frame = pl.DataFrame({"id": list(range(first.len())), "c": first})
    frame.write_parquet(daemon.sources / f"{name}.parquet")
    night1 = _night(client, daemon, name, "full")
    night2 = _night(client, daemon, name, "incremental")
    pl.concat([frame, pl.DataFrame({"id": [99], "c": later})]).write_parquet(
        daemon.sources / f"{name}.parquet"
    )
    night3 = _night(client, daemon, name, "incremental")
    return night1, night2, night3


@pytest.mark.parametrize("time_zone", [None, "Europe/Paris"])
def test_a_nanosecond_cursor_sends_nothing_twice(daemon_factory, time_zone) -> None:  # type: ignore[no-untyped-def]
    daemon: Daemon = daemon_factory("ns")
    daemon.start()
    # Several rows share the last microsecond; the largest is 999 ns into it.
    first = _ns([_NS_BASE + i * 1000 + 1 for i in range(50)] + [_NS_BASE + 49_999], time_zone)
    later = _ns([_NS_BASE + 49_999 + 500], time_zone)
    with ExportClient(daemon.address) as client:
        night1, night2, night3 = _chain(client, daemon, "events", first, later)
    assert _ids(night1) == list(range(51))
    mark = load_manifest(night1.manifest_uri)["watermark"]["value"]
    assert mark.startswith("2025-12-01T") and ".000049999" in mark
    assert _ids(night2) == []
    assert _ids(night3) == [99]
    assert ".000050499" in load_manifest(night3.manifest_uri)["watermark"]["value"]


def test_a_decimal_cursor_is_exact(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    daemon: Daemon = daemon_factory("dec")
    daemon.start()
    decimal = pl.Decimal(10, 2)
    first = pl.Series("c", [Decimal("1.10"), Decimal("2.25"), Decimal("2.30")], dtype=decimal)
    later = pl.Series("c", [Decimal("2.31")], dtype=decimal)
    with ExportClient(daemon.address) as client:
        night1, night2, night3 = _chain(client, daemon, "prices", first, later)
    assert _ids(night1) == [0, 1, 2]
    # Text, so no reader turns it into a float.
    assert _strict_manifest(night1)["watermark"]["value"] == "2.30"
    assert _ids(night2) == []
    assert _ids(night3) == [99]
    assert _strict_manifest(night3)["watermark"]["value"] == "2.31"
    folder = manifest_path(night3.manifest_uri).parent
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("part-")) == [
        "part-000000.jsonl.zst"
    ]


def test_nan_and_infinite_cursors_are_never_the_watermark(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    daemon: Daemon = daemon_factory("nan")
    daemon.start()
    first = pl.Series("c", [1.0, float("nan"), 2.0, float("inf"), float("-inf")])
    later = pl.Series("c", [3.0])
    with ExportClient(daemon.address) as client:
        night1, night2, night3 = _chain(client, daemon, "floats", first, later)
    # A full export sends every row; the watermark is the largest finite cursor.
    assert _ids(night1) == [0, 1, 2, 3, 4]
    assert _strict_manifest(night1)["watermark"]["value"] == 2.0
    # Increments send neither the NaN nor the infinite rows again.
    assert _ids(night2) == []
    assert _ids(night3) == [99]
    assert _strict_manifest(night3)["watermark"]["value"] == 3.0


def test_rows_without_a_cursor_are_counted_by_increments(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    daemon: Daemon = daemon_factory("nulls")
    daemon.start()
    source = daemon.sources / "rows.parquet"
    pl.DataFrame({"id": [1, 2, 3], "c": [1, None, 2]}).write_parquet(source)
    with ExportClient(daemon.address) as client:
        night1 = _night(client, daemon, "rows", "full")
        # Nulls before, between and after the rows sent, across chunks of two rows.
        ids = list(range(1, 14))
        cursors = [1, None, 2, None, 3, None, None, 4, 5, None, 6, None, None]
        pl.DataFrame({"id": ids, "c": cursors}).write_parquet(source)
        spec = ExportClient.build_spec(
            source=str(source),
            to=str(daemon.exports),
            dataset="rows",
            format="jsonl",
            chunk_rows=2,
            incremental=pb.Incremental(mode="incremental", cursor="c"),
        )
        night2 = client.wait(client.create(spec).id, timeout=120)
    assert _ids(night1) == [1, 2, 3]  # a full export sends them
    assert night2.state == pb.EXPORT_STATE_SUCCEEDED
    assert _ids(night2) == [5, 8, 9, 11]
    manifest = _strict_manifest(night2)
    # 7 rows with a null cursor; id 2's null was sent by the full export, but an
    # increment cannot tell it from the new ones: all are counted, none is sent.
    assert manifest["incremental"]["rows_without_cursor"] == 7
    # The live counters end equal to the manifest's (save_final_progress): the rows after
    # the last row sent (ids 12, 13) too, which only the manifest carried before.
    assert night2.progress.counters["source/rows_without_cursor"] == 7
    assert "rows_without_cursor" not in json.dumps(manifest["redaction"])
    assert "rows_without_cursor" not in _strict_manifest(night1)["incremental"]


def test_rows_without_a_cursor_are_counted_by_keyed_increments(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    # With a key, the export pass reads only the rows the key pass selected: that pass
    # counts the rows without a cursor.
    daemon: Daemon = daemon_factory("keyed-nulls")
    daemon.start()
    source = daemon.sources / "rows.parquet"

    def night(client: ExportClient, mode: str) -> pb.Export:
        spec = ExportClient.build_spec(
            source=str(source),
            to=str(daemon.exports),
            dataset="rows",
            format="jsonl",
            chunk_rows=2,
            incremental=pb.Incremental(mode=mode, cursor="c", key=["id"]),
        )
        return client.wait(client.create(spec).id, timeout=120)

    pl.DataFrame({"id": [1, 2, 3], "c": [1, None, 2]}).write_parquet(source)
    with ExportClient(daemon.address) as client:
        night1 = night(client, "full")
        cursors = [1, None, 2, None, 3, None, None, 4, 5, None, 6, None, None]
        pl.DataFrame({"id": list(range(1, 14)), "c": cursors}).write_parquet(source)
        night2 = night(client, "incremental")
    assert night1.state == night2.state == pb.EXPORT_STATE_SUCCEEDED
    assert _ids(night2) == [5, 8, 9, 11]
    assert _strict_manifest(night2)["incremental"]["rows_without_cursor"] == 7


def test_a_card_number_as_a_decimal_cursor_is_never_recorded_in_clear(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    # Strict redaction nulls the card in the records; its watermark would give it away.
    daemon: Daemon = daemon_factory("card-cursor")
    daemon.start()
    source = daemon.sources / "cards.parquet"
    cards = pl.Series("c", [Decimal(42), Decimal(4111111111111111)], dtype=pl.Decimal(20, 0))
    pl.DataFrame({"id": [1, 2], "c": cards}).write_parquet(source)
    spec = ExportClient.build_spec(
        source=str(source),
        to=str(daemon.exports),
        dataset="cards",
        format="jsonl",
        incremental=pb.Incremental(mode="full", cursor="c"),
        redaction=pb.Redaction(level="strict"),
    )
    with ExportClient(daemon.address) as client, pytest.raises(ExportFailedError) as failed:
        client.wait(client.create(spec).id, timeout=120)
    assert failed.value.code == "FAILED_PRECONDITION"
    assert "card number" in str(failed.value) and "4111" not in str(failed.value)
    assert not list(daemon.exports.rglob("manifest.json"))
    assert "4111111111111111" not in daemon.log_tail(400)
