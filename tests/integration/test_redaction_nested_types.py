"""Fixed-size lists (Polars Array), maps and wide whole numbers through a real daemon:
every rule reaches their values, from Parquet, Arrow IPC and DuckDB sources, and the
columns leave with their own types."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest

from sluice.client import ExportClient
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.integration.helpers import load_manifest, manifest_path, read_export

pytestmark = pytest.mark.integration

EMAIL = "alice.sentinel@example.com"
OTHER_EMAIL = "bob.sentinel@example.org"
SECRET = "hunter2secret"
PHONE = "+1 415 555 2671"
CARD = 4111111111111111
SENTINELS = (EMAIL, OTHER_EMAIL, SECRET, PHONE, str(CARD))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, ExportClient]]:
    daemon = Daemon(root=tmp_path_factory.mktemp("nested-types") / "d")
    daemon.start()
    try:
        with ExportClient(daemon.address) as client:
            yield daemon, client
    finally:
        daemon.stop(timeout=20)


def _export(
    world: tuple[Daemon, ExportClient], source: str, dataset: str, fmt: str, level: str, **kw: str
) -> pb.Export:
    daemon, client = world
    spec = ExportClient.build_spec(
        source=source,
        to=str(daemon.exports),
        dataset=dataset,
        format=fmt,
        compression="none",
        redaction=pb.Redaction(level=level),
        **kw,
    )
    finished = client.wait(client.create(spec).id, timeout=120)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error.message
    return finished


def _stored_text(finished: pb.Export) -> bytes:
    folder = manifest_path(finished.manifest_uri).parent
    return b"".join(p.read_bytes() for p in sorted(folder.iterdir()))


def _leaks(finished: pb.Export) -> list[str]:
    stored = _stored_text(finished)
    return [s for s in SENTINELS if s.encode() in stored]


def _nested_table() -> pa.Table:
    return pa.table(
        {
            "id": [1, 2, 3],
            "emails": pa.array(
                [[EMAIL, OTHER_EMAIL], ["a@b.io", None], None], type=pa.list_(pa.string(), 2)
            ),
            "notes": pa.array(
                [[f"password={SECRET}", f"call {PHONE}"], ["x", "y"], ["z", None]],
                type=pa.list_(pa.string(), 2),
            ),
            "attrs": pa.array(
                [
                    [("email", EMAIL), ("note", f"password={SECRET} call {PHONE}")],
                    [(OTHER_EMAIL, "owner"), ("password", SECRET)],
                    None,
                ],
                type=pa.map_(pa.string(), pa.string()),
            ),
            "cards": pa.array([[CARD, 7], [1, 2], None], type=pa.list_(pa.int64(), 2)),
        }
    )


NESTED_TYPES = {
    "id": pl.Int64(),
    "emails": pl.Array(pl.String(), 2),
    "notes": pl.Array(pl.String(), 2),
    "attrs": pl.Map(pl.String(), pl.String()),
    "cards": pl.Array(pl.Int64(), 2),
}


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_arrays_and_maps_from_parquet_are_redacted_at_strict(world, fmt: str) -> None:  # type: ignore[no-untyped-def]
    daemon, _ = world
    source = daemon.sources / "nested.parquet"
    pq.write_table(_nested_table(), source)
    finished = _export(world, str(source), f"nested_{fmt}", fmt, "strict")
    assert _leaks(finished) == []
    counts = load_manifest(finished.manifest_uri)["redaction"]["counts"]
    assert counts["EMAIL"]["emails"] == 2
    # A key naming what its value holds takes it as a column's name would (`email`,
    # `password`); the rest is read by content, keys too.
    assert counts["EMAIL_MAP"]["attrs.value"] == 1 and counts["EMAIL"]["attrs.key"] == 1
    assert counts["SECRET_VALUE"]["notes"] == 1 and counts["SECRET_MAP"]["attrs.value"] == 1
    assert counts["SECRET_VALUE"]["attrs.value"] == 1 and counts["PHONE"]["attrs.value"] == 1
    assert counts["PHONE"]["notes"] == 1 and counts["CARD"]["cards"] == 1
    if fmt == "parquet":
        out = read_export(finished.manifest_uri)
        assert dict(out.schema) == NESTED_TYPES
        assert out["emails"].to_list() == [["[EMAIL]", "[EMAIL]"], ["[EMAIL]", None], None]
        assert out["notes"].to_list()[0] == ["password=[SECRET_VALUE]", "call [PHONE]"]
        assert out["attrs"].to_list()[1] == {"[EMAIL]": "owner", "password": "[SECRET]"}
        assert out["cards"].to_list() == [[None, 7], [1, 2], None]


def test_secrets_in_arrays_and_maps_are_redacted_at_basic(world) -> None:  # type: ignore[no-untyped-def]
    daemon, _ = world
    source = daemon.sources / "nested_basic.parquet"
    pq.write_table(_nested_table(), source)
    finished = _export(world, str(source), "nested_basic", "jsonl", "basic")
    stored = _stored_text(finished)
    assert SECRET.encode() not in stored
    # basic leaves addresses and phone numbers: the values are read, not skipped.
    assert EMAIL.encode() in stored


def test_arrays_and_maps_from_arrow_ipc_are_redacted(world) -> None:  # type: ignore[no-untyped-def]
    daemon, _ = world
    source = daemon.sources / "nested.arrow"
    pl.from_arrow(_nested_table()).write_ipc(source)  # type: ignore[union-attr]
    finished = _export(world, str(source), "nested_arrow", "arrow", "strict")
    assert _leaks(finished) == []
    assert dict(read_export(finished.manifest_uri).schema) == NESTED_TYPES


def test_arrays_and_maps_put_over_flight_are_redacted(world) -> None:  # type: ignore[no-untyped-def]
    daemon, _ = world
    data = _nested_table()
    spec = {
        "destination": {"uri": str(daemon.exports), "dataset": "nested_flight"},
        "output": {"format": "parquet"},
        "redaction": {"level": "strict"},
    }
    cmd = json.dumps({"requestId": "nested-flight", "spec": spec}).encode()
    client = flight.connect(f"grpc://{daemon.address}")
    try:
        writer, reader = client.do_put(flight.FlightDescriptor.for_command(cmd), data.schema)
        acks = [json.loads(reader.read().to_pybytes())]
        writer.write_table(data)
        writer.done_writing()
        while not acks[-1].get("state"):
            acks.append(json.loads(reader.read().to_pybytes()))
        writer.close()
    finally:
        client.close()
    final = acks[-1]
    assert final["state"] == "succeeded", final
    finished = pb.Export(manifest_uri=final["manifest_uri"])
    assert _leaks(finished) == []
    out = read_export(final["manifest_uri"])
    assert dict(out.schema) == NESTED_TYPES
    assert out["attrs"].to_list()[1] == {"[EMAIL]": "owner", "password": "[SECRET]"}


def test_duckdb_arrays_maps_and_wide_numbers_are_redacted(world) -> None:  # type: ignore[no-untyped-def]
    daemon, _ = world
    path = daemon.sources / "nested.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, emails VARCHAR[2], "
            "m MAP(VARCHAR, VARCHAR), card_dec DECIMAL(18,0), n HUGEINT, total DECIMAL(18,0))"
        )
        con.execute(
            "INSERT INTO t VALUES (1, [?, 'x'], MAP {'password': ?, 'mail': ?, 'note': ?}, "
            "?, ?, 12345678901234)",
            [EMAIL, SECRET, OTHER_EMAIL, f"call {PHONE}", CARD, CARD],
        )
    finished = _export(world, f"duckdb://{path}", "nested_duckdb", "parquet", "strict", table="t")
    assert _leaks(finished) == []
    out = read_export(finished.manifest_uri)
    row = out.row(0, named=True)
    assert row["emails"] == ["[EMAIL]", "[EMAIL]"]
    assert row["m"] == {"password": "[SECRET]", "mail": "[EMAIL]", "note": "call [PHONE]"}
    # Cards in whole decimals become null in their own type; other numbers stay.
    assert row["card_dec"] is None and row["n"] is None
    assert row["total"] == Decimal(12345678901234)
    assert isinstance(out.schema["emails"], pl.Array)
    assert isinstance(out.schema["m"], pl.Map)


def test_cards_in_whole_decimals_from_parquet_are_nulled(world) -> None:  # type: ignore[no-untyped-def]
    daemon, _ = world
    # (An Int128 Parquet column is not read by the file source: see the unit tests.)
    frame = pl.DataFrame(
        {
            "d": pl.Series([Decimal(CARD), Decimal(42)], dtype=pl.Decimal(20, 0)),
            "price": pl.Series([Decimal(CARD) / 100, Decimal(42)], dtype=pl.Decimal(20, 2)),
        }
    )
    source: Path = daemon.sources / "wide.parquet"
    frame.write_parquet(source)
    finished = _export(world, str(source), "wide", "parquet", "strict")
    out = read_export(finished.manifest_uri)
    assert out["d"].to_list() == [None, Decimal(42)] and out.schema["d"] == pl.Decimal(20, 0)
    # A decimal with places is an amount, not an identifier.
    assert out["price"].to_list() == frame["price"].to_list()
    assert load_manifest(finished.manifest_uri)["redaction"]["counts"]["CARD"] == {"d": 1}
