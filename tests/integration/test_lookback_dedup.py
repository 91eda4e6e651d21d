"""Cursor increments with a key: rows re-read in the look-back window that were already
exported unchanged are not sent again; late rows and late corrections are."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest

from sluice.client import ExportClient
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.integration.helpers import load_manifest, read_export

pytestmark = pytest.mark.integration
START = datetime(2026, 3, 1)


def _rows(ids: list[int], minutes: list[int], amounts: list[int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": ids,
            "updated_at": [START + timedelta(minutes=m) for m in minutes],
            "amount": amounts,
        }
    )


def _sync(client: ExportClient, daemon: Daemon, mode: str, key: list[str]) -> dict[str, object]:
    spec = ExportClient.build_spec(
        source=str(daemon.sources / "events.parquet"),
        to=str(daemon.exports),
        dataset="events",
        format="jsonl",
        incremental=pb.Incremental(mode=mode, cursor="updated_at", lookback_seconds=3600, key=key),
    )
    export = client.wait(client.create(spec).id, timeout=120)
    return {"manifest": load_manifest(export.manifest_uri), "uri": export.manifest_uri}


@pytest.mark.parametrize("key", [["id"], []], ids=["with-key", "without-key"])
def test_lookback_rows_already_sent_are_not_sent_twice(daemon: Daemon, key: list[str]) -> None:
    ids = list(range(200))
    day1 = _rows(ids, ids, [i * 10 for i in ids])  # minute i: the watermark is minute 199
    day1.write_parquet(daemon.sources / "events.parquet")
    with ExportClient(daemon.address) as client:
        first = _sync(client, daemon, "full", key)
        # Day 2: a late correction inside the window (same cursor), a late row inside it,
        # and a new row past the watermark.
        day2 = pl.concat(
            [
                day1.with_columns(
                    pl.when(pl.col("id") == 150).then(1).otherwise("amount").alias("amount")
                ),
                _rows([1000, 1001], [170, 300], [7, 8]),
            ]
        )
        day2.write_parquet(daemon.sources / "events.parquet")
        second = _sync(client, daemon, "incremental", key)
        again = _sync(client, daemon, "incremental", key)

    assert load_manifest(str(first["uri"]))["totals"]["records"] == 200  # type: ignore[index]
    sent = read_export(str(second["uri"]))
    window = day2.filter(pl.col("updated_at") >= START + timedelta(minutes=139))
    if key:
        assert sent.get_column("id").to_list() == [150, 1000, 1001]
        changes = second["manifest"]["incremental"]["changes"]  # type: ignore[index]
        assert changes == {"inserted": 2, "updated": 1, "deleted": 0, "unchanged": 60}
        # The re-run re-reads its own window and finds nothing new.
        assert again["manifest"]["totals"]["records"] == 0  # type: ignore[index]
    else:
        # Without a key the whole window is sent again, by design.
        assert sent.height == window.height
