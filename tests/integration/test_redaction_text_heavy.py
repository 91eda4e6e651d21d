"""Redaction through a real daemon on the text-heavy, nested benchmark dataset: personal
data goes from free text, list elements and the email column; look-alikes, categorical
columns and structs without personal data come back as they were; the manifest counts
what changed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from benchmarks.text_heavy_data import generate
from sluice.client import ExportClient
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.integration.helpers import load_manifest, read_export

pytestmark = pytest.mark.integration
ROWS = 3_000
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# The dataset's two card sentences (an IBAN's digit groups would look like a card too).
CARD = re.compile(r"(?:Card used: |Paid with )([0-9 -]{16,19})")
CATEGORICAL = ("level", "service", "region", "locale", "status", "client")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, ExportClient, Path]]:
    daemon = Daemon(root=tmp_path_factory.mktemp("text-heavy"), settings={"batch_rows": 1024})
    daemon.start()
    source = generate(daemon.sources / "text-heavy.parquet", ROWS, seed=3, pii_share=0.6)
    try:
        with ExportClient(daemon.address) as client:
            yield daemon, client, source
    finally:
        daemon.stop(timeout=20)


def _export(world: tuple[Daemon, ExportClient, Path], level: str) -> tuple[pl.DataFrame, dict]:  # type: ignore[type-arg]
    daemon, client, source = world
    spec = ExportClient.build_spec(
        source=str(source),
        to=str(daemon.exports),
        dataset=f"text-{level}",
        chunk_rows=1200,
        redaction=pb.Redaction(level=level),
    )
    finished = client.wait(client.create(spec).id, timeout=120)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    return read_export(finished.manifest_uri), load_manifest(finished.manifest_uri)


def test_moderate_removes_contacts_everywhere_and_keeps_the_rest(world) -> None:  # type: ignore[no-untyped-def]
    source = pl.read_parquet(world[2])
    out, manifest = _export(world, "moderate")
    messages = [m for m in source["message"].to_list() if m is not None]
    assert sum(bool(EMAIL.search(m)) for m in messages) > 200
    assert out["message"].null_count() == source["message"].null_count()
    assert not any(EMAIL.search(m) for m in out["message"].drop_nulls().to_list())
    assert set(out["email"].drop_nulls().to_list()) == {"[EMAIL]"}
    cc = [e for row in out["cc"].drop_nulls().to_list() for e in row]
    assert cc and set(cc) == {"[EMAIL]"}
    for column in (*CATEGORICAL, "tags", "request", "amount", "event_id"):
        assert out[column].to_list() == source[column].to_list(), column
    # Look-alikes stay: order ids, versions, dates, prices, UUIDs, tracking numbers.
    for pattern in (r"ORD-20[0-9]{2}-[0-9]{6}", r"version [0-9]+\.[0-9]+\.[0-9]+",
                    r"[0-9a-f]{8}-[0-9a-f]{4}-", r"[0-9]{22}"):  # fmt: skip
        kept = [bool(re.search(pattern, m)) for m in out["message"].drop_nulls().to_list()]
        found = [bool(re.search(pattern, m)) for m in messages]
        assert sum(found) > 20 and kept == found, pattern
    counts = manifest["redaction"]["counts"]
    changed = sum(
        a != b for a, b in zip(messages, out["message"].drop_nulls().to_list(), strict=True)
    )
    assert counts["EMAIL"]["message"] + counts["PHONE"]["message"] >= changed > 300
    assert counts["EMAIL"]["cc"] == source["cc"].drop_nulls().list.len().gt(0).sum()


def test_strict_masks_cards_in_text(world) -> None:  # type: ignore[no-untyped-def]
    source = pl.read_parquet(world[2])
    out, manifest = _export(world, "strict")
    with_card = [m for m in source["message"].drop_nulls().to_list() if CARD.search(m)]
    assert len(with_card) > 20
    masked = [m for m in out["message"].drop_nulls().to_list() if CARD.search(m)]
    assert not masked
    assert manifest["redaction"]["counts"]["CARD"]["message"] >= len(with_card)
