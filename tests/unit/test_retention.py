"""Retention decisions (restic-style keep rules, chains kept whole) and safe deletion."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sluice.client.demo_data import generate
from sluice.server.committed.catalog import CommittedExport, committed_exports
from sluice.server.committed.retention import RetentionPolicy, delete_export, plan_retention
from sluice.server.errors import InvalidArgument
from sluice.sinks import LocalSink
from tests.unit.exporting import export_to

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _export(export_id: str, days_ago: float, parent: str | None = None) -> CommittedExport:
    finished = (NOW - timedelta(days=days_ago)).isoformat()
    return CommittedExport(
        export_id,
        "events",
        f"events/{export_id}/manifest.json",
        finished,
        finished,
        parent,
        1,
        1,
        1,
        None,
    )


NIGHTLY = [_export(f"d{n:02d}", n) for n in range(60)]


def test_keep_last() -> None:
    plan = plan_retention(NIGHTLY, RetentionPolicy(keep_last=3))
    assert plan.keep == ("d00", "d01", "d02")
    assert len(plan.delete) == 57 and "d03" in plan.delete


def test_daily_weekly_monthly_keep_the_newest_of_each_period() -> None:
    twice_a_day = [_export(f"e{n:03d}", n / 2) for n in range(120)]
    plan = plan_retention(twice_a_day, RetentionPolicy(keep_daily=3))
    # e000 is today 12:00 and e001 today 00:00: the newest of each day is every other one.
    assert plan.keep == ("e000", "e002", "e004")

    monthly = plan_retention(NIGHTLY, RetentionPolicy(keep_monthly=3))
    months = {
        datetime.fromisoformat(e.finished_at).strftime("%Y-%m")
        for e in NIGHTLY
        if e.export_id in monthly.keep
    }
    assert len(monthly.keep) == 3 and len(months) == 3
    weekly = plan_retention(NIGHTLY, RetentionPolicy(keep_weekly=2))
    assert weekly.keep[0] == "d00" and len(weekly.keep) == 2


def test_keep_within_days() -> None:
    plan = plan_retention(NIGHTLY, RetentionPolicy(keep_within_days=7))
    assert plan.keep == tuple(f"d{n:02d}" for n in range(8))


def test_keep_within_days_counts_from_the_newest_export_not_from_now() -> None:
    paused = [_export(f"d{n:02d}", n) for n in range(20, 60)]  # none in the last 20 days
    plan = plan_retention(paused, RetentionPolicy(keep_within_days=7))
    assert plan.keep == tuple(f"d{n:02d}" for n in range(20, 28))


def test_the_newest_export_of_each_creator_is_always_kept() -> None:
    """An admin's keep_last=1 over a dataset two creators share: the other creator's
    newest export is what its next increment continues, so it stays (with its chain)."""
    mine = [replace(_export(f"m{n}", n, parent=f"m{n + 1}" if n < 3 else None), created_by="me")
            for n in range(4)]  # fmt: skip
    theirs = [replace(_export(f"t{n}", 10 + n), created_by="them") for n in range(3)]
    plan = plan_retention(mine + theirs, RetentionPolicy(keep_last=1))
    assert set(plan.keep) == {"m0", "m1", "m2", "m3", "t0"}
    assert ("t0", "newest") in plan.reasons and ("m0", "last") in plan.reasons
    assert set(plan.delete) == {"t1", "t2"}


def test_a_kept_incremental_export_keeps_its_whole_chain() -> None:
    chain = [_export("full", 10)] + [
        _export(f"inc{n}", 10 - n, parent="full" if n == 1 else f"inc{n - 1}") for n in range(1, 10)
    ]
    plan = plan_retention(chain, RetentionPolicy(keep_last=1))
    assert set(plan.keep) == {"full", *(f"inc{n}" for n in range(1, 10))}
    assert ("full", "parent of inc1") in plan.reasons
    assert plan.delete == ()


def test_policies_that_keep_nothing_or_are_negative_are_refused() -> None:
    with pytest.raises(InvalidArgument):
        RetentionPolicy()
    with pytest.raises(InvalidArgument):
        RetentionPolicy(keep_last=-1)


def test_delete_removes_the_manifest_first_and_then_everything(tmp_path: Path) -> None:
    source = generate(tmp_path / "src" / "events.parquet", 2_500, seed=2)
    sink = LocalSink(tmp_path / "out")
    export_to(sink, tmp_path, source, "a")
    export_to(sink, tmp_path, source, "b")

    # An interrupted deletion: only the manifest went. The export no longer counts.
    sink.remove("events/a/manifest.json")
    assert [e.export_id for e in committed_exports(sink, "events")] == ["b"]

    assert delete_export(sink, "events", "a") == 3  # the three chunks
    assert delete_export(sink, "events", "a") == 0  # running it again is harmless
    assert [info.key for info in sink.list("events/a/")] == []
    assert not (tmp_path / "out" / "events" / "a").exists()  # the emptied folder went too
    assert [e.export_id for e in committed_exports(sink, "events")] == ["b"]
    assert delete_export(sink, "events", "b") == 4  # three chunks and the manifest
    assert (tmp_path / "out" / "events").is_dir()  # the dataset folder stays
