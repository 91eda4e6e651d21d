"""Every replica answers for every export: Verify, Diff and Delete of exports another
replica ran, through the client and the CLI, three daemons on one PostgreSQL sharing one
export folder."""

from __future__ import annotations

import json

import pytest

from sluice.client import ExportClient, SluiceError
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from tests.daemon import run_cli
from tests.integration.test_replicas import Replicas, _final, _spec, replicas

pytestmark = [pytest.mark.integration, pytest.mark.slow]
__all__ = ["replicas"]


def test_verify_diff_and_delete_answer_on_every_replica(replicas: Replicas) -> None:
    daemons = replicas.start(3, batch_rows=512)
    generate(replicas.sources / "events.parquet", 3_000, seed=11)
    ids: list[str] = []
    for daemon, where in zip(daemons, ("", "amount > 50"), strict=False):
        with ExportClient(daemon.address) as client:
            ids.append(client.create(_spec(replicas, chunk_rows=1_000, where=where)).id)
    with ExportClient(daemons[0].address) as client:
        ran = [_final(client, export_id) for export_id in ids]
    assert [e.state for e in ran] == [pb.EXPORT_STATE_SUCCEEDED] * 2
    # Each replica answers for both, whichever ran them.
    for daemon in daemons:
        with ExportClient(daemon.address) as client:
            for export in ran:
                report = client.verify(export.id)
                assert report.ok and report.export_id == export.id
                assert report.chunks_checked == export.progress.chunks
            diff = client.diff(ids[0], ids[1])
            assert (diff.base_export_id, diff.other_export_id) == (ids[0], ids[1])
    total = sum(c.records for c in diff.added) - sum(c.records for c in diff.removed)
    assert total == ran[1].progress.records - ran[0].progress.records

    verified = run_cli(daemons[1], "export", "verify", ids[0])
    assert verified.returncode == 0 and " ok, " in verified.stdout, verified.stderr
    diffed = run_cli(daemons[2], "export", "diff", "--chunks-only", ids[0], ids[1], "--json")
    assert diffed.returncode == 0, diffed.stderr
    assert json.loads(diffed.stdout)["base_export_id"] == ids[0]

    # Deleted through a replica that ran neither (or either): every replica sees it gone.
    deleted = run_cli(daemons[2], "export", "delete", ids[1], "--json")
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout)["objects_removed"] > 0
    folder = replicas.exports / "events" / ids[1]
    assert not folder.exists() or not any(folder.iterdir())
    for daemon in daemons:
        with ExportClient(daemon.address) as client:
            assert client.get(ids[1]).state == pb.EXPORT_STATE_DELETED
            with pytest.raises(SluiceError) as caught:
                client.verify(ids[1])
            assert caught.value.code in {"NOT_FOUND", "FAILED_PRECONDITION"}, caught.value
    again = run_cli(daemons[0], "export", "verify", ids[0])
    assert again.returncode == 0, again.stderr
