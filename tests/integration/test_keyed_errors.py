"""Keyed exports' errors through a real daemon: a key that is not unique (reported with an
example, never a value redaction hides), keys that cannot be exported, a chain that cannot
continue by key, and record diffs that cannot be made."""

from __future__ import annotations

from pathlib import Path

import grpc
import polars as pl
import pytest
import zstandard

from sluice.client import (
    ExportClient,
    ExportFailedError,
    FailedPreconditionError,
    InvalidArgumentError,
)
from sluice.v1 import export_pb2 as pb
from sluice.v1 import export_pb2_grpc
from tests.daemon import Daemon

pytestmark = pytest.mark.integration


def _people(daemon: Daemon, ids: list[int]) -> Path:
    path = daemon.sources / "people.parquet"
    pl.DataFrame(
        {
            "id": ids,
            "email": [f"person{i}@example.com" for i in ids],
            "name": [f"n{i}" for i in ids],
        }
    ).write_parquet(path)
    return path


def _spec(daemon: Daemon, dataset: str = "people", **options: object) -> pb.ExportSpec:
    incremental = options.pop("incremental", pb.Incremental(mode="full", key=["id"]))
    return ExportClient.build_spec(
        source=str(daemon.sources / "people.parquet"),
        to=str(daemon.exports),
        dataset=dataset,
        incremental=incremental,  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )


def _run(client: ExportClient, spec: pb.ExportSpec) -> pb.Export:
    """The export in its final state, failed or not."""
    try:
        return client.wait(client.create(spec).id, timeout=120)
    except ExportFailedError as failed:
        return failed.export


def test_a_key_that_is_not_unique_fails_with_an_example(daemon: Daemon) -> None:
    _people(daemon, [1, 2, 7, 3, 7])
    with ExportClient(daemon.address) as client:
        failed = _run(client, _spec(daemon))
        masked = _run(
            client,
            _spec(
                daemon,
                dataset="masked",
                incremental=pb.Incremental(mode="full", key=["email"]),
                redaction=pb.Redaction(
                    rules=[pb.RedactionRule(column="email", action="mask", keep_last=3)]
                ),
            ),
        )
    assert failed.state == pb.EXPORT_STATE_FAILED
    assert failed.error.code == "FAILED_PRECONDITION"
    assert 'key {"id":7} appears in 2 rows' in failed.error.message
    # The key is masked in the export, so the example names its digest, not its value.
    assert masked.error.code == "FAILED_PRECONDITION"
    assert "key digest " in masked.error.message
    assert "person7" not in masked.error.message
    assert not (daemon.exports / "people" / failed.id / "manifest.json").exists()
    assert "person7" not in daemon.log_path.read_text()


def test_keys_that_cannot_be_used_are_invalid_arguments(daemon: Daemon) -> None:
    _people(daemon, [1, 2, 3])
    drop_id = pb.Redaction(rules=[pb.RedactionRule(column="id", action="drop")])
    unknown = pb.Incremental(mode="full", key=["nope"])
    lookback = pb.Incremental(mode="incremental", key=["id"], lookback_seconds=60)
    bad = [
        (_spec(daemon, columns=["name"]), "spec.incremental.key"),
        (_spec(daemon, redaction=drop_id), "spec.incremental.key"),
        (_spec(daemon, incremental=unknown), "spec.incremental.key"),
        (_spec(daemon, incremental=lookback), "spec.incremental.lookback"),
    ]
    with ExportClient(daemon.address) as client:
        for spec, field in bad:
            with pytest.raises(InvalidArgumentError) as raised:
                client.create(spec)
            assert raised.value.violations[0].field == field


def test_a_chain_without_a_key_index_cannot_continue_by_key(daemon: Daemon) -> None:
    _people(daemon, [1, 2, 3])
    with ExportClient(daemon.address) as client:
        plain = _run(client, _spec(daemon, incremental=pb.Incremental(mode="full")))
        assert plain.state == pb.EXPORT_STATE_SUCCEEDED
        by_key = pb.Incremental(mode="incremental", key=["id"])
        with pytest.raises(FailedPreconditionError, match="has no key index"):
            client.create(_spec(daemon, incremental=by_key))


def test_record_diffs_that_cannot_be_made(daemon: Daemon) -> None:
    _people(daemon, [1, 2, 3])
    with ExportClient(daemon.address) as client:
        keyed = _run(client, _spec(daemon))
        plain = _run(client, _spec(daemon, incremental=pb.Incremental(mode="full")))
        other = _run(client, _spec(daemon, dataset="other"))
        assert not client.diff(keyed.id, plain.id).record_level
    with grpc.insecure_channel(daemon.address) as channel:
        stub = export_pb2_grpc.ExportServiceStub(channel)
        for base, other_id, code in (
            (keyed.id, keyed.id, grpc.StatusCode.INVALID_ARGUMENT),
            (keyed.id, plain.id, grpc.StatusCode.FAILED_PRECONDITION),
            (keyed.id, other.id, grpc.StatusCode.FAILED_PRECONDITION),
        ):
            with pytest.raises(grpc.RpcError) as raised:
                list(stub.DiffExportRecords(pb.DiffExportsRequest(base=base, other=other_id)))
            assert raised.value.code() == code  # type: ignore[attr-defined]
    assert daemon.healthy()


def test_a_chain_continues_only_under_the_same_index_key(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    daemon = daemon_factory("rekeyed")
    daemon.start()
    _people(daemon, [1, 2, 3])
    with ExportClient(daemon.address) as client:
        assert _run(client, _spec(daemon)).state == pb.EXPORT_STATE_SUCCEEDED
    daemon.stop()
    (daemon.state_dir / "keys" / "content-digest.key").unlink()  # a new random key
    daemon.start()
    with ExportClient(daemon.address) as client:
        failed = _run(
            client, _spec(daemon, incremental=pb.Incremental(mode="incremental", key=["id"]))
        )
    assert failed.error.code == "FAILED_PRECONDITION"
    assert "key id" in failed.error.message and "key_index_key" in failed.error.message


def _tombstones(daemon: Daemon, dataset: str, export: pb.Export) -> bytes:
    path = daemon.exports / dataset / export.id / "tombstones.jsonl.zst"
    return zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes())


@pytest.mark.parametrize(
    ("parent", "child", "dataset"),
    [
        # Tombstones would carry the deleted rows' addresses in clear under "moderate".
        (pb.Redaction(level="none"), pb.Redaction(level="moderate"), "to-moderate"),
        # ... or hashed keys the consumer never received, under "none".
        (
            pb.Redaction(level="none", rules=[pb.RedactionRule(column="email", action="hash")]),
            pb.Redaction(level="none"),
            "from-hashed",
        ),
    ],
)
def test_a_keyed_increment_keeps_its_parents_redaction(
    daemon_factory, tmp_path: Path, parent: pb.Redaction, child: pb.Redaction, dataset: str
) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "hash.key").write_bytes(b"k" * 32)
    daemon = daemon_factory("chain", hash_keys={"default": f"file:{tmp_path / 'hash.key'}"})
    daemon.start()
    by_email = pb.Incremental(mode="full", key=["email"])
    _people(daemon, [1, 2, 3])
    with ExportClient(daemon.address) as client:
        first = _run(client, _spec(daemon, dataset, redaction=parent, incremental=by_email))
        assert first.state == pb.EXPORT_STATE_SUCCEEDED
        _people(daemon, [3])  # two rows deleted: an increment would write two tombstones
        increment = pb.Incremental(mode="incremental", key=["email"])
        with pytest.raises(FailedPreconditionError) as refused:
            client.create(_spec(daemon, dataset, redaction=child, incremental=increment))
        message = str(refused.value)
        assert first.id in message and "--mode full" in message
        assert "person1@example.com" not in message
        if parent.level != child.level:
            assert "'none'" in message and "'moderate'" in message
        # Under the parent's redaction the chain goes on, its tombstones as the parent's.
        same = _run(client, _spec(daemon, dataset, redaction=parent, incremental=increment))
        assert same.state == pb.EXPORT_STATE_SUCCEEDED
        assert _tombstones(daemon, dataset, same).count(b'"__sluice_op":"delete"') == 2
    # The refused increment wrote nothing: the one tombstones file is the accepted one's.
    assert len(list((daemon.exports / dataset).glob("*/tombstones*"))) == 1
