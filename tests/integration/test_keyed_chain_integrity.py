"""A keyed chain never loses or duplicates a row for its consumer, who applies each export
as the README says (upsert the chunks' records by key, then delete the tombstones'
keys): key columns whose type changed between nights, binary keys, composite keys whose
values hold the digest message's separators, and a key-only increment after a cursor
window. Real daemon, real CLI, the stored files read back."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.daemon import Daemon, run_cli

pytestmark = pytest.mark.integration

_TIMES = [dt.datetime(2026, 12, 1, 0, 0, s) for s in (1, 2, 3)]


def _sync(
    daemon: Daemon, dataset: str, mode: str, key: str, *extra: str, fmt: str = "jsonl"
) -> subprocess.CompletedProcess[str]:
    return run_cli(
        daemon,
        "export",
        "create",
        "--source",
        str(daemon.sources / f"{dataset}.parquet"),
        "--to",
        str(daemon.exports),
        "--dataset",
        dataset,
        "--mode",
        mode,
        "--key",
        key,
        *extra,
        "--format",
        fmt,
        "--compression",
        "none",
        "--wait",
        timeout=300,
    )


def _manifests(daemon: Daemon, dataset: str) -> list[dict[str, Any]]:
    found = [json.loads(p.read_text()) for p in (daemon.exports / dataset).glob("*/manifest.json")]
    return sorted(found, key=lambda m: m["created_at"])


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _applied(daemon: Daemon, dataset: str, key: list[str]) -> dict[tuple[Any, ...], Any]:
    """The consumer's table after applying every export of the chain in order."""
    table: dict[tuple[Any, ...], Any] = {}
    for manifest in _manifests(daemon, dataset):
        folder = daemon.exports / dataset / manifest["export_id"]
        for chunk in manifest["chunks"]:
            for record in _jsonl(folder / chunk["path"]):
                table[tuple(_hashable(record[c]) for c in key)] = record
        if manifest["tombstones"]:
            for record in _jsonl(folder / manifest["tombstones"]["path"]):
                table.pop(tuple(_hashable(record[c]) for c in key), None)
    return table


def _hashable(value: Any) -> Any:
    """A key value as a dictionary key: structs and lists as their JSON."""
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value


def _write(daemon: Daemon, dataset: str, frame: pl.DataFrame) -> None:
    frame.write_parquet(daemon.sources / f"{dataset}.parquet")


def _said(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stdout + result.stderr).strip()


_NIGHTS: dict[str, tuple[str, pl.DataFrame, pl.DataFrame, tuple[str, ...]]] = {
    # kind: key, night 1, night 2 (the same rows, the key's type changed), both types
    "float": (
        "id",
        pl.DataFrame({"id": [1, 2, 3], "name": ["a", "b", "c"]}),
        pl.DataFrame({"id": [1.0, 2.0, 3.0], "name": ["a", "b", "c"]}),
        ("int64", "double"),
    ),
    "decimal": (
        "id",
        pl.DataFrame({"id": [1, 2, 3], "name": ["a", "b", "c"]}),
        pl.DataFrame(
            {
                "id": pl.Series([Decimal("1.00"), Decimal("2.00"), Decimal("3.00")]).cast(
                    pl.Decimal(10, 2)
                ),
                "name": ["a", "b", "c"],
            }
        ),
        ("int64", "decimal128(10, 2)"),
    ),
    "ts": (  # a composite key; night 2 written by a tool that keeps nanoseconds
        "sensor,ts",
        pl.DataFrame(
            {"sensor": ["s1"] * 3, "ts": pl.Series(_TIMES, dtype=pl.Datetime("us")), "v": [1, 2, 3]}
        ),
        pl.DataFrame(
            {"sensor": ["s1"] * 3, "ts": pl.Series(_TIMES, dtype=pl.Datetime("ns")), "v": [1, 2, 3]}
        ),
        ("timestamp[us]", "timestamp[ns]"),
    ),
}


def test_a_key_only_increment_whose_key_type_changed_is_refused(daemon: Daemon) -> None:
    daemon.sources.mkdir(parents=True, exist_ok=True)
    for kind, (key, night1, night2, types) in _NIGHTS.items():
        _write(daemon, kind, night1)
        assert _sync(daemon, kind, "full", key).returncode == 0, kind
        _write(daemon, kind, night2)
        refused = _sync(daemon, kind, "incremental", key)
        said = _said(refused)
        # Before: accepted, every row an insert plus a tombstone for its own key, and the
        # consumer's table ended empty.
        assert refused.returncode != 0, (kind, said, len(_applied(daemon, kind, key.split(","))))
        column = "id" if kind != "ts" else "ts"
        assert f'"{column}"' in said or f"'{column}'" in said, said
        assert types[0] in said and types[1] in said, said
        assert "start a new chain with --mode full" in said, said
        assert len(said.splitlines()) == 1, said
        assert len(_manifests(daemon, kind)) == 1  # nothing written
        assert len(_applied(daemon, kind, key.split(","))) == 3
        # A new chain under the new type works, and continues.
        assert _sync(daemon, kind, "full", key).returncode == 0, kind
        again = _sync(daemon, kind, "incremental", key)
        assert again.returncode == 0, _said(again)
        assert _manifests(daemon, kind)[-1]["incremental"]["changes"]["unchanged"] == 3


def test_a_key_whose_values_keep_their_text_keeps_its_chain(daemon: Daemon) -> None:
    """Integers of another width, decimals of another precision (same scale): the same
    key digests and tombstones, so the chain continues."""
    daemon.sources.mkdir(parents=True, exist_ok=True)
    nights = {
        "ints": (pl.Int32, pl.Int64),
        "decimals": (pl.Decimal(10, 2), pl.Decimal(12, 2)),
    }
    for dataset, (before, after) in nights.items():
        _write(
            daemon, dataset, pl.DataFrame({"id": pl.Series([1, 2, 3]).cast(before), "v": [1, 2, 3]})
        )
        assert _sync(daemon, dataset, "full", "id").returncode == 0
        _write(daemon, dataset, pl.DataFrame({"id": pl.Series([1, 2]).cast(after), "v": [1, 2]}))
        night2 = _sync(daemon, dataset, "incremental", "id")
        assert night2.returncode == 0, _said(night2)
        changes = _manifests(daemon, dataset)[-1]["incremental"]["changes"]
        assert (changes["inserted"], changes["deleted"], changes["unchanged"]) == (0, 1, 2)


def test_a_chain_without_recorded_key_types_never_tombstones_a_key_it_sends(
    daemon: Daemon,
) -> None:
    """A parent manifest written before key types were recorded, and without a schema
    to compare with: the increment runs as before, but no tombstone may delete a key
    the same export sends (1 and 1.0 are one key to the consumer)."""
    daemon.sources.mkdir(parents=True, exist_ok=True)
    _write(daemon, "old", pl.DataFrame({"id": [1, 2, 3], "name": ["a", "b", "c"]}))
    assert _sync(daemon, "old", "full", "id").returncode == 0
    (parent,) = (daemon.exports / "old").glob("*/manifest.json")
    manifest = json.loads(parent.read_text())
    assert manifest["key_index"]["key_types"] == {"id": "int64"}
    del manifest["key_index"]["key_types"]
    parent.write_text(json.dumps(manifest, indent=2) + "\n")
    _write(daemon, "old", pl.DataFrame({"id": [1.0, 2.0, 4.0], "name": ["a", "b", "d"]}))
    # Without recorded key types, the parent manifest's schema tells the change.
    by_schema = _sync(daemon, "old", "incremental", "id")
    assert by_schema.returncode != 0 and "double" in _said(by_schema), _said(by_schema)
    assert "int64" in _said(by_schema)

    manifest["schema"] = []
    parent.write_text(json.dumps(manifest, indent=2) + "\n")
    result = _sync(daemon, "old", "incremental", "id")
    assert result.returncode == 0, _said(result)
    child = _manifests(daemon, "old")[-1]
    table = _applied(daemon, "old", ["id"])
    # Before: 3 tombstones (1, 2, 3) after the upserts of 1.0, 2.0, 4.0: one row left.
    assert sorted(k[0] for k in table) == [1, 2, 4], (table, child["tombstones"])
    assert child["tombstones"]["records"] == 1  # 3, deleted for real
    tombstones = _jsonl(daemon.exports / "old" / child["export_id"] / child["tombstones"]["path"])
    assert [t["id"] for t in tombstones] == [3]
    assert child["incremental"]["changes"]["deleted"] == 1
    assert "2 tombstones left out" in daemon.log_tail(400)


def test_a_binary_key_exports_and_its_deletions_become_tombstones(daemon: Daemon) -> None:
    daemon.sources.mkdir(parents=True, exist_ok=True)
    _write(daemon, "blobs", pl.DataFrame({"id": [b"\x01\x02", b"\x03\x04"], "v": [1, 2]}))
    first = _sync(daemon, "blobs", "full", "id", fmt="parquet")
    # Before: failed with INTERNAL (a Polars panic JSON-encoding the binary key).
    assert first.returncode == 0, _said(first)
    _write(daemon, "blobs", pl.DataFrame({"id": [b"\x03\x04", b"\x05"], "v": [2, 5]}))
    second = _sync(daemon, "blobs", "incremental", "id", fmt="parquet")
    assert second.returncode == 0, _said(second)
    manifest = _manifests(daemon, "blobs")[-1]
    folder = daemon.exports / "blobs" / manifest["export_id"]
    sent = pl.concat([pl.read_parquet(folder / c["path"]) for c in manifest["chunks"]])
    assert sent.to_dicts() == [{"id": b"\x05", "v": 5}]
    tombstones = pl.read_parquet(folder / manifest["tombstones"]["path"])
    assert tombstones.to_dicts() == [{"id": b"\x01\x02", "__sluice_op": "delete"}]
    changes = manifest["incremental"]["changes"]
    assert (changes["inserted"], changes["deleted"], changes["unchanged"]) == (1, 1, 1)


def test_a_deleted_key_whose_category_left_the_enum_becomes_a_tombstone(daemon: Daemon) -> None:
    daemon.sources.mkdir(parents=True, exist_ok=True)
    night1 = pl.Series(["a", "b", "c"], dtype=pl.Enum(["a", "b", "c"]))
    _write(daemon, "enum", pl.DataFrame({"k": night1, "v": [1, 2, 3]}))
    assert _sync(daemon, "enum", "full", "k").returncode == 0
    night2 = pl.Series(["a", "b"], dtype=pl.Enum(["a", "b"]))
    _write(daemon, "enum", pl.DataFrame({"k": night2, "v": [1, 2]}))
    second = _sync(daemon, "enum", "incremental", "k")
    # Before: failed (INTERNAL) decoding "c" into the enum that no longer holds it.
    assert second.returncode == 0, _said(second)
    assert sorted(_applied(daemon, "enum", ["k"])) == [("a",), ("b",)]


@pytest.mark.parametrize(
    ("dtype", "shown"),
    [
        (pl.Duration("us"), "duration[us]"),
        (pl.Array(pl.Int64, 2), "fixed_size_list"),
        (pl.Struct({"a": pl.Duration("us"), "b": pl.String}), "struct<a: duration[us], b: string>"),
        (pl.List(pl.Binary), "list<item: binary>"),
    ],
)
def test_a_key_of_a_type_tombstones_cannot_carry_is_refused_at_planning(
    daemon: Daemon, dtype: pl.DataType, shown: str
) -> None:
    daemon.sources.mkdir(parents=True, exist_ok=True)
    values = {
        "duration[us]": [dt.timedelta(seconds=1), dt.timedelta(seconds=2)],
        "fixed_size_list": [[1, 2], [3, 4]],
        "struct<a: duration[us], b: string>": [
            {"a": dt.timedelta(seconds=1), "b": "x"},
            {"a": dt.timedelta(seconds=2), "b": "y"},
        ],
        "list<item: binary>": [[b"\x01"], [b"\x02"]],
    }[shown]
    _write(daemon, "odd", pl.DataFrame({"k": pl.Series(values, dtype=dtype), "v": [1, 2]}))
    refused = _sync(daemon, "odd", "full", "k")
    said = _said(refused)
    # Before: a Duration key was accepted and failed at the chain's first deletion.
    assert refused.returncode != 0, said
    assert "spec.incremental.key" in said and "column 'k'" in said and shown in said, said
    assert len(said.splitlines()) == 1, said
    assert not (daemon.exports / "odd").exists() or not list((daemon.exports / "odd").iterdir())


_NESTED = {
    "struct": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}, {"a": 3, "b": "z"}],
    "list": [[1, 2], [3], [4, 5]],
}


@pytest.mark.parametrize("recorded", [True, False])
@pytest.mark.parametrize("kind", sorted(_NESTED))
def test_a_struct_or_list_key_keeps_its_chain(daemon: Daemon, kind: str, recorded: bool) -> None:
    """Structs and lists come back from the sealed key JSON: their deletions become
    tombstones holding the deleted values, and a chain keyed by one continues, also
    from a parent made before key types were recorded (compared by its schema)."""
    daemon.sources.mkdir(parents=True, exist_ok=True)
    keys = _NESTED[kind]
    _write(daemon, kind, pl.DataFrame({"k": keys, "v": [1, 2, 3]}))
    first = _sync(daemon, kind, "full", "k")
    # Before: INVALID_ARGUMENT "... which cannot be a key" (a struct-keyed chain begun
    # before the upgrade could not continue).
    assert first.returncode == 0, _said(first)
    assert _manifests(daemon, kind)[-1]["key_index"]["key_types"]["k"] == (
        "struct<a: int64, b: string>" if kind == "struct" else "list<item: int64>"
    )
    if not recorded:  # as a chain begun before the upgrade left it
        (parent,) = (daemon.exports / kind).glob("*/manifest.json")
        manifest = json.loads(parent.read_text())
        del manifest["key_index"]["key_types"]
        parent.write_text(json.dumps(manifest, indent=2) + "\n")
    _write(daemon, kind, pl.DataFrame({"k": keys[:2], "v": [1, 20]}))
    second = _sync(daemon, kind, "incremental", "k")
    assert second.returncode == 0, _said(second)
    manifest = _manifests(daemon, kind)[-1]
    changes = manifest["incremental"]["changes"]
    assert (changes["updated"], changes["deleted"], changes["unchanged"]) == (1, 1, 1)
    folder = daemon.exports / kind / manifest["export_id"]
    assert [t["k"] for t in _jsonl(folder / manifest["tombstones"]["path"])] == [keys[2]]
    table = _applied(daemon, kind, ["k"])
    assert sorted(r["v"] for r in table.values()) == [1, 20]


def test_a_parent_key_the_narrower_type_cannot_hold_is_refused_not_nulled(
    daemon: Daemon,
) -> None:
    """Integers of another width and decimals of another precision keep a chain, but a
    deleted key the new type cannot hold would have been a tombstone of a null key."""
    daemon.sources.mkdir(parents=True, exist_ok=True)
    nights = {
        "ints": (
            pl.Series([1, 2, 3, 70000], dtype=pl.Int64),
            pl.Series([1, 2, 3], dtype=pl.Int16),
            ("int64", "int16"),
        ),
        "decimals": (
            pl.Series([Decimal("1.00"), Decimal("12345678.00")], dtype=pl.Decimal(10, 2)),
            pl.Series([Decimal("1.00")], dtype=pl.Decimal(5, 2)),
            ("decimal128(10, 2)", "decimal128(5, 2)"),
        ),
    }
    for dataset, (night1, night2, types) in nights.items():
        _write(daemon, dataset, pl.DataFrame({"id": night1, "v": range(len(night1))}))
        assert _sync(daemon, dataset, "full", "id").returncode == 0
        _write(daemon, dataset, pl.DataFrame({"id": night2, "v": range(len(night2))}))
        refused = _sync(daemon, dataset, "incremental", "id")
        said = _said(refused)
        # Before: ints 'deleted 1' with the tombstone {"id":null}; decimals INTERNAL.
        assert refused.returncode != 0, (said, _applied(daemon, dataset, ["id"]))
        assert "FAILED_PRECONDITION" in said and "column 'id'" in said, said
        assert types[0] in said and types[1] in said, said
        assert "start a new chain with --mode full" in said and len(said.splitlines()) == 1
        assert len(_manifests(daemon, dataset)) == 1  # nothing written
    # Narrower, but every deleted key fits: the chain continues, the tombstone exact.
    _write(daemon, "fits", pl.DataFrame({"id": pl.Series([1, 2, 3], dtype=pl.Int64)}))
    assert _sync(daemon, "fits", "full", "id").returncode == 0
    _write(daemon, "fits", pl.DataFrame({"id": pl.Series([1, 2], dtype=pl.Int16)}))
    fits = _sync(daemon, "fits", "incremental", "id")
    assert fits.returncode == 0, _said(fits)
    manifest = _manifests(daemon, "fits")[-1]
    folder = daemon.exports / "fits" / manifest["export_id"]
    assert _jsonl(folder / manifest["tombstones"]["path"]) == [{"id": 3, "__sluice_op": "delete"}]
    assert sorted(_applied(daemon, "fits", ["id"])) == [(1,), (2,)]


_K1 = ("p\x1eb\x1f=q", "r")
_K2 = ("p", "q\x1eb\x1f=r")


def test_composite_keys_whose_values_hold_the_separators_stay_two_keys(daemon: Daemon) -> None:
    daemon.sources.mkdir(parents=True, exist_ok=True)
    _write(
        daemon, "pairs", pl.DataFrame({"a": [_K1[0], _K2[0]], "b": [_K1[1], _K2[1]], "v": [1, 2]})
    )
    both = _sync(daemon, "pairs", "full", "a,b")
    # Before: refused as a key that is not unique (the two keys had one digest).
    assert both.returncode == 0, _said(both)
    assert _manifests(daemon, "pairs")[-1]["totals"]["records"] == 2

    _write(daemon, "chain", pl.DataFrame({"a": [_K1[0], "z"], "b": [_K1[1], "z"], "v": [1, 3]}))
    assert _sync(daemon, "chain", "full", "a,b").returncode == 0
    _write(daemon, "chain", pl.DataFrame({"a": [_K2[0], "z"], "b": [_K2[1], "z"], "v": [2, 3]}))
    night2 = _sync(daemon, "chain", "incremental", "a,b")
    assert night2.returncode == 0, _said(night2)
    changes = _manifests(daemon, "chain")[-1]["incremental"]["changes"]
    assert (changes["inserted"], changes["deleted"], changes["unchanged"]) == (1, 1, 1)
    table = _applied(daemon, "chain", ["a", "b"])
    assert sorted(table) == sorted([_K2, ("z", "z")])


def test_a_key_only_increment_after_a_cursor_window_is_refused(daemon: Daemon) -> None:
    daemon.sources.mkdir(parents=True, exist_ok=True)
    _write(daemon, "mixed", pl.DataFrame({"id": [1, 2, 3, 4], "ts": [1, 2, 3, 4]}))
    assert _sync(daemon, "mixed", "full", "id", "--cursor", "ts").returncode == 0
    _write(daemon, "mixed", pl.DataFrame({"id": [1, 2, 3, 4, 5], "ts": [1, 2, 3, 4, 5]}))
    assert _sync(daemon, "mixed", "incremental", "id", "--cursor", "ts").returncode == 0
    _write(daemon, "mixed", pl.DataFrame({"id": [1, 3, 4, 5], "ts": [1, 3, 4, 5]}))  # 2 gone
    refused = _sync(daemon, "mixed", "incremental", "id")
    said = _said(refused)
    # Before: accepted, every row outside the window re-sent and id 2 never deleted.
    assert refused.returncode != 0, said
    assert "--mode full --key" in said and len(said.splitlines()) == 1, said
    assert len(_manifests(daemon, "mixed")) == 2
    # A key-only increment after a *full* cursor+key export is fine: its index is whole.
    _write(daemon, "whole", pl.DataFrame({"id": [1, 2, 3], "ts": [1, 2, 3]}))
    assert _sync(daemon, "whole", "full", "id", "--cursor", "ts").returncode == 0
    _write(daemon, "whole", pl.DataFrame({"id": [1, 3], "ts": [1, 3]}))
    after_full = _sync(daemon, "whole", "incremental", "id")
    assert after_full.returncode == 0, _said(after_full)
    assert _manifests(daemon, "whole")[-1]["incremental"]["changes"]["deleted"] == 1
