"""Identifiers stored as integers, through a real daemon: a card number in an Int64
column (from Parquet, or inferred from CSV) is still a card under strict redaction."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from sluice.client import ExportClient
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.integration.helpers import load_manifest, read_export

pytestmark = pytest.mark.integration

# Valid card numbers: issuer ranges and Luhn checksums.
CARDS = (4111111111111111, 5500000000000004, 4012888888881881, 378282246310005, 6011111111111117)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, ExportClient]]:
    daemon = Daemon(root=tmp_path_factory.mktemp("integer-ids") / "d")
    daemon.start()
    try:
        with ExportClient(daemon.address) as client:
            yield daemon, client
    finally:
        daemon.stop(timeout=20)


def _strict(client: ExportClient, daemon: Daemon, source: Path) -> pb.Export:
    spec = ExportClient.build_spec(
        source=str(source),
        to=str(daemon.exports),
        dataset=source.stem,
        chunk_rows=1000,
        redaction=pb.Redaction(level="strict"),
    )
    return client.wait(client.create(spec).id, timeout=120)


def _no_card_anywhere(out: pl.DataFrame) -> None:
    text = out.write_csv()
    for number in CARDS:
        assert str(number) not in text


def test_cards_stored_as_integers_are_redacted(world) -> None:  # type: ignore[no-untyped-def]
    daemon, client = world
    rows = 2_000
    ids = list(range(1, rows + 1))
    cards = [CARDS[i % len(CARDS)] for i in range(rows)]
    frame = pl.DataFrame(
        {
            "id": ids,
            "card": cards,  # found by content: an Int64 holding card numbers
            "card_number": cards,  # found by name: masked as text
            "amount": [i * 1_000_003 for i in ids],
            "ordered_at_ms": [1_700_000_000_000 + i for i in ids],
            "note": [f"paid with {c}" for c in cards],
        },
        schema_overrides={"card": pl.Int64, "card_number": pl.Int64},
    )
    source = daemon.sources / "payments.parquet"
    frame.write_parquet(source)
    finished = _strict(client, daemon, source)
    out = read_export(finished.manifest_uri)
    _no_card_anywhere(out)
    assert out["card"].null_count() == rows
    assert out["card_number"].to_list()[:2] == ["************1111", "************0004"]
    # Numbers that are not cards keep their values and their type.
    assert out["id"].to_list() == ids and out["amount"].dtype == pl.Int64
    assert out["ordered_at_ms"].to_list() == frame["ordered_at_ms"].to_list()
    manifest = load_manifest(finished.manifest_uri)
    assert {column: n for column, n in manifest["redaction"]["counts"]["CARD"].items() if n} == {
        "card": rows,
        "card_number": rows,
        "note": rows,
    }
    types = {f["name"]: f["type"] for f in manifest["schema"]}
    assert types["card"] == "int64"

    # The same numbers in a CSV, where inference makes them integers.
    csv = daemon.sources / "payments.csv"
    frame.write_csv(csv)
    out = read_export(_strict(client, daemon, csv).manifest_uri)
    _no_card_anywhere(out)
    assert out["id"].to_list() == ids
