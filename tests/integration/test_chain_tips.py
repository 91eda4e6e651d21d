"""The newest export of a chain removed outside Sluice: its manifest deleted by hand (a
lifecycle rule, an `rm`), the older export looks like the chain's newest, and the next
increment would continue it, sending again what the removed one held, without a word.
The job store knows which export of the chain last SUCCEEDED, so the increment is
refused with DATA_LOSS naming the missing manifest and nothing is written; a deletion
through `sluice export delete` is recorded and continues the older export as before; a
full export starts a new chain. Real daemon, on its SQLite store and on PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from sluice.client import ExportClient, SluiceError
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, run_cli
from tests.integration import keyed_sync as scenario
from tests.servers.postgres import PostgresServer

pytestmark = pytest.mark.integration


def _spec(daemon: Daemon, mode: str) -> pb.ExportSpec:
    return ExportClient.build_spec(
        source=str(daemon.sources / "items.parquet"),
        to=str(daemon.exports),
        dataset="items",
        format="jsonl",
        compression="none",
        chunk_rows=100,
        incremental=pb.Incremental(mode=mode, key=["id"]),
    )


def _sync(daemon: Daemon, mode: str) -> pb.Export:
    with ExportClient(daemon.address) as client:
        export = client.wait(client.create(_spec(daemon, mode)).id, timeout=300)
    assert export.state == pb.EXPORT_STATE_SUCCEEDED, export.error.message
    return export


def _files(daemon: Daemon) -> dict[str, bytes]:
    root = daemon.exports
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _changes(daemon: Daemon, export: pb.Export) -> tuple[str, dict[str, int]]:
    manifest = json.loads((daemon.exports / "items" / export.id / "manifest.json").read_bytes())
    return manifest["parent_export_id"], manifest["incremental"]["changes"]


@pytest.fixture(params=["sqlite", "postgresql"])
def daemon(
    request: pytest.FixtureRequest, daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> Daemon:
    (tmp_path / "digest.key").write_bytes(scenario.DIGEST_KEY)
    settings: dict[str, object] = {
        "content_digest_key": f"file:{tmp_path / 'digest.key'}",
        "batch_rows": 256,
    }
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        settings["job_store"] = server.new_database()
    started = daemon_factory("d", **settings)
    started.start(timeout=180)
    return started


def test_an_increment_refuses_a_chain_whose_newest_manifest_was_removed(daemon: Daemon) -> None:
    source = daemon.sources / "items.parquet"
    scenario.day1().write_parquet(source)
    day1 = _sync(daemon, "full")
    scenario.day2().write_parquet(source)
    day2 = _sync(daemon, "incremental")
    assert _changes(daemon, day2) == (
        day1.id, {"inserted": 2, "updated": 3, "deleted": 2, "unchanged": 295}
    )  # fmt: skip

    # Day 2's manifest removed by hand: day 1 looks like the newest export of the chain,
    # and continuing it would send day 2's changes again.
    manifest = daemon.exports / "items" / day2.id / "manifest.json"
    kept = manifest.read_bytes()
    manifest.unlink()
    before = _files(daemon)
    with ExportClient(daemon.address) as client, pytest.raises(SluiceError) as refused:
        client.create(_spec(daemon, "incremental"))
    assert refused.value.code == "DATA_LOSS", refused.value
    message = str(refused.value)
    assert f"the chain's newest export {day2.id} has no manifest at " in message, message
    assert f"{daemon.exports}/items/{day2.id}/manifest.json" in message, message
    assert f"would continue the older export {day1.id}" in message, message
    assert message.endswith(
        "start a new chain with --mode full; or, if `sluice export delete "
        f"{day2.id}` was cut short, run it again"
    ), message
    assert _files(daemon) == before

    # Restored: the chain goes on from day 2 (nothing changed since).
    manifest.write_bytes(kept)
    day3 = _sync(daemon, "incremental")
    assert _changes(daemon, day3) == (
        day2.id, {"inserted": 0, "updated": 0, "deleted": 0, "unchanged": 300}
    )  # fmt: skip

    # Deleted through Sluice: recorded, so the chain continues day 2 without a refusal.
    deleted = run_cli(daemon, "export", "delete", day3.id, timeout=300)
    assert deleted.returncode == 0, deleted
    day4 = _sync(daemon, "incremental")
    assert _changes(daemon, day4)[0] == day2.id

    # Removed by hand again, the newest (day 4) this time: a full export, which starts a
    # new chain, is what the refusal advises, and the chain goes on from it.
    (daemon.exports / "items" / day4.id / "manifest.json").unlink()
    with ExportClient(daemon.address) as client, pytest.raises(SluiceError) as refused:
        client.create(_spec(daemon, "incremental"))
    assert refused.value.code == "DATA_LOSS", refused.value
    assert f"newest export {day4.id} has no manifest" in str(refused.value)
    full = _sync(daemon, "full")
    after = _sync(daemon, "incremental")
    assert _changes(daemon, after) == (
        full.id, {"inserted": 0, "updated": 0, "deleted": 0, "unchanged": 300}
    )  # fmt: skip


def test_a_rerun_of_a_committed_increment_is_not_its_own_parent(
    daemon_factory: Callable[..., Daemon], tmp_path: Path
) -> None:
    """An increment that crashed after its manifest was written, before the job store
    heard it succeeded (the store is then as this test leaves it: RUNNING, its lease
    expired), is run again by the restarted daemon. Its own manifest is now the newest
    of the chain: it must not become its own parent. The run ends SUCCEEDED with the
    manifest its first run committed, unchanged, whose parent is day 1."""
    (tmp_path / "digest.key").write_bytes(scenario.DIGEST_KEY)
    daemon = daemon_factory(
        "d", content_digest_key=f"file:{tmp_path / 'digest.key'}", batch_rows=256
    )
    daemon.start(timeout=180)
    source = daemon.sources / "items.parquet"
    scenario.day1().write_parquet(source)
    day1 = _sync(daemon, "full")
    scenario.day2().write_parquet(source)
    day2 = _sync(daemon, "incremental")
    committed = _files(daemon)
    daemon.stop()
    with sqlite3.connect(daemon.state_dir / "jobs.sqlite3") as db:
        db.execute(
            "UPDATE jobs SET state = 'running', finished_at = NULL, manifest_uri = '',"
            " lease_expires_at = NULL WHERE id = ?",
            (day2.id,),
        )
    daemon.start(timeout=180)
    with ExportClient(daemon.address) as client:
        again = client.wait(day2.id, timeout=300)
    assert again.state == pb.EXPORT_STATE_SUCCEEDED, again.error.message
    assert _changes(daemon, day2) == (
        day1.id, {"inserted": 2, "updated": 3, "deleted": 2, "unchanged": 295}
    )  # fmt: skip
    assert _files(daemon) == committed
