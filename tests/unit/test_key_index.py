"""The key index: keyed digests, the external range sort, the stored stream and the
range-by-range comparison, on real frames and a real (memory) sink."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from sluice.server.errors import DataLoss
from sluice.server.keyindex.compare import (
    CHANGE,
    CHANGED_COLUMNS,
    compare_range,
    with_changed_columns,
)
from sluice.server.keyindex.digests import (
    KEY_DIGEST,
    KEY_JSON,
    ROW_DIGEST,
    IndexKeys,
    RowDigester,
)
from sluice.server.keyindex.seal import KeySealer
from sluice.server.keyindex.sorter import RANGES, RangeSorter, range_upper
from sluice.server.keyindex.store import IndexWriter, open_index
from sluice.server.pipeline.query import hidden_key_column
from sluice.server.pipeline.source import ROW_INDEX
from sluice.sinks import MemorySink

KEYS = IndexKeys.derive(b"k" * 32)


def _batch(ids: list[int], names: list[str | None], start: int = 0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            ROW_INDEX: list(range(start, start + len(ids))),
            "id": ids,
            "name": names,
            hidden_key_column(0): ids,
        },
        schema_overrides={ROW_INDEX: pl.UInt32},
    )


def _digests(frame: pl.DataFrame, keys: IndexKeys = KEYS) -> pl.DataFrame:
    return RowDigester(keys, ["id"], ["id", "name"]).digests(frame)


def test_digests_are_keyed_deterministic_and_hold_no_values() -> None:
    first = _digests(_batch([1, 2], ["a", None]))
    again = _digests(_batch([1, 2], ["a", None]))
    other_key = _digests(_batch([1, 2], ["a", None]), IndexKeys.derive(b"x" * 32))
    assert first.equals(again)
    assert first[KEY_DIGEST].to_list() != other_key[KEY_DIGEST].to_list()
    assert [len(d) for d in first[KEY_DIGEST]] == [16, 16]
    assert [len(d) for d in first["column:name"]] == [8, 8]
    # null and "" differ; the exported key is kept as JSON (only for sealing).
    empty = _digests(_batch([2], [""]))
    assert empty["column:name"][0] != first["column:name"][1]
    assert first[KEY_JSON].to_list() == ['{"id":1}', '{"id":2}']
    assert "IndexKeys(id=" in repr(KEYS) and "kkkk" not in repr(KEYS)


def test_range_sorter_sorts_across_spills(tmp_path: Path) -> None:
    sorter = RangeSorter(tmp_path, 300, _digests(_batch([], [])).schema)
    for start in range(0, 2_000, 250):
        ids = list(range(start, start + 250))
        sorter.add(_digests(_batch(ids, [str(i) for i in ids], start)))
    ranges = list(sorter.ranges())
    assert [n for n, _ in ranges] == list(range(RANGES))
    whole = pl.concat([frame for _, frame in ranges])
    assert whole.height == 2_000
    assert whole[KEY_DIGEST].is_sorted()
    for number, frame in ranges:
        upper = range_upper(number)
        assert frame.is_empty() or upper is None or frame[KEY_DIGEST].max() < upper  # type: ignore[operator]
    assert list(tmp_path.iterdir()) == []


def test_index_round_trip_and_cursor_ranges() -> None:
    sink = MemorySink("index-test")
    rows = _digests(_batch(list(range(500)), ["x"] * 500)).drop(KEY_JSON).sort(KEY_DIGEST)
    writer = IndexWriter(sink, "ds/e1/index.arrows", rows.schema)
    writer.write(rows.slice(0, 200))
    writer.write(rows.slice(200))
    stored = writer.commit()
    assert (stored.path, stored.rows) == ("index.arrows", 500)
    with sink.open("ds/e1/index.arrows") as handle:
        cursor = open_index(handle)
        assert cursor.schema == rows.schema
        parts = [cursor.take_below(range_upper(n)) for n in range(RANGES)]
    assert pl.concat(parts).equals(rows)
    assert all(p.is_empty() or p[KEY_DIGEST][0][0] == n for n, p in enumerate(parts))


def test_unreadable_index_is_data_loss() -> None:
    sink = MemorySink("index-bad")
    writer = sink.create("ds/e/index.arrows")
    writer.write(b"not arrow")
    writer.commit()
    with sink.open("ds/e/index.arrows") as handle, pytest.raises(DataLoss):
        open_index(handle).take_below(None)


def test_compare_names_added_removed_changed_and_columns() -> None:
    base = _digests(_batch([1, 2, 3], ["a", "b", "c"])).sort(KEY_DIGEST)
    other = _digests(_batch([2, 3, 4], ["b", "C", "d"])).sort(KEY_DIGEST)
    joined = with_changed_columns(compare_range(base, other))
    by_key = {
        json: (change, columns)
        for json, json_base, change, columns in joined.select(
            KEY_JSON, KEY_JSON + "@base", CHANGE, CHANGED_COLUMNS
        ).iter_rows()
        for json in [json or json_base]
    }
    assert by_key == {
        '{"id":1}': ("removed", []),
        '{"id":2}': ("unchanged", []),
        '{"id":3}': ("changed", ["name"]),
        '{"id":4}': ("added", []),
    }
    assert joined.filter(pl.col(CHANGE) == "changed")[ROW_DIGEST].null_count() == 0


def test_sealed_keys_open_only_with_their_key() -> None:
    sealed = KeySealer(KEYS.seal).seal(['{"id":1}', '{"id":"é"}'])
    assert all(b"id" not in blob for blob in sealed)
    assert KeySealer(KEYS.seal).open(sealed) == ['{"id":1}', '{"id":"é"}']
    with pytest.raises(DataLoss):
        KeySealer(IndexKeys.derive(b"z" * 32).seal).open(sealed)
