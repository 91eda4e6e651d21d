"""A lease renewal and a run's facts commit without syncing the WAL, and only they: the
other writes of the SQLite store stay synchronous=FULL (a journalled chunk survives a
power cut, and persists the facts saved before it). The
statements the store's connection runs are recorded with sqlite3's trace callback."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.server.errors import LeaseLost
from sluice.server.jobs.model import NewJob, Progress
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.planning.spec import DestinationSpec, ExportSpec, SourceSpec


def _statements(store: SQLiteJobStore) -> list[str]:
    seen: list[str] = []
    store._db.set_trace_callback(seen.append)
    return seen


def _synchronous(store: SQLiteJobStore) -> int:
    return int(store._db.execute("PRAGMA synchronous").fetchone()[0])


def test_a_renewal_commits_unsynced_and_the_next_write_is_synced_again(
    tmp_path: Path,
) -> None:
    store = SQLiteJobStore(tmp_path / "jobs.sqlite3")
    try:
        spec = ExportSpec(
            source=SourceSpec(uri=str(tmp_path / "in.parquet")),
            destination=DestinationSpec(uri=str(tmp_path / "out"), dataset="events"),
        )
        store.create(NewJob(id="20260101T000000Z-renew", spec=spec))
        claimed = store.claim("here", 60)
        assert claimed is not None
        job, lease = claimed
        seen = _statements(store)
        assert store.renew(lease, 60) is False
        commit = seen.index("COMMIT")
        assert "PRAGMA synchronous = NORMAL" in seen[:commit]
        assert seen[commit + 1 :] == ["PRAGMA synchronous = FULL"]
        assert _synchronous(store) == 2  # FULL for whatever comes next
        seen.clear()
        store.save_progress(job.id, Progress(), lease=lease)
        assert not any(s.startswith("PRAGMA synchronous") for s in seen)
        assert _synchronous(store) == 2
    finally:
        store.close()


def test_a_refused_renewal_leaves_the_store_synchronous_full(tmp_path: Path) -> None:
    store = SQLiteJobStore(tmp_path / "jobs.sqlite3")
    try:
        spec = ExportSpec(
            source=SourceSpec(uri=str(tmp_path / "in.parquet")),
            destination=DestinationSpec(uri=str(tmp_path / "out"), dataset="events"),
        )
        store.create(NewJob(id="20260101T000000Z-taken", spec=spec))
        claimed = store.claim("here", 60)
        assert claimed is not None
        _, lease = claimed
        store.expire_leases()
        assert store.claim("elsewhere", 60) is not None
        with pytest.raises(LeaseLost):
            store.renew(lease, 60)
        assert _synchronous(store) == 2
    finally:
        store.close()


def test_run_facts_commit_unsynced(tmp_path: Path) -> None:
    store = SQLiteJobStore(tmp_path / "jobs.sqlite3")
    try:
        spec = ExportSpec(
            source=SourceSpec(uri=str(tmp_path / "in.parquet")),
            destination=DestinationSpec(uri=str(tmp_path / "out"), dataset="events"),
        )
        store.create(NewJob(id="20260101T000000Z-facts", spec=spec))
        claimed = store.claim("here", 60)
        assert claimed is not None
        job, lease = claimed
        seen = _statements(store)
        store.save_run_facts(job.id, '{"files": []}', lease=lease)
        commit = seen.index("COMMIT")
        assert "PRAGMA synchronous = NORMAL" in seen[:commit]
        assert seen[commit + 1 :] == ["PRAGMA synchronous = FULL"]
        assert store.run_facts(job.id) == '{"files": []}'
        assert _synchronous(store) == 2
    finally:
        store.close()
