"""One increment of a chain (destination, dataset, creator) at a time, on both job
stores: another increment of the chain is refused FAILED_PRECONDITION naming the export
that is unfinished (at create) or running (at a run's start); other chains, full exports
and the export itself pass."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from sluice.server.errors import FailedPrecondition
from sluice.server.jobs import NewJob
from sluice.server.jobs.increment_chains import check_one_increment
from sluice.server.jobs.model import JobState
from sluice.server.jobs.postgres import PostgresJobStore
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.jobs.store import JobStore
from sluice.server.planning.spec import (
    DestinationSpec,
    ExportSpec,
    IncrementalSpec,
    SourceSpec,
)
from tests.servers.postgres import PostgresServer


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    if request.param == "sqlite":
        opened: JobStore = SQLiteJobStore(tmp_path / "jobs.sqlite3")
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        opened = PostgresJobStore(server.new_database())
    try:
        yield opened
    finally:
        opened.close()


def _spec(mode: str = "incremental", dataset: str = "users") -> ExportSpec:
    return ExportSpec(
        source=SourceSpec(uri="file:///data/users.parquet"),
        destination=DestinationSpec(uri="file:///exports", dataset=dataset),
        incremental=IncrementalSpec(mode=mode, key=("id",)),
    )


def _create(store: JobStore, job_id: str, spec: ExportSpec, creator: str = "alice") -> None:
    store.create(NewJob(id=job_id, spec=spec, request_id="", request_fingerprint="",
                        created_by=creator))  # fmt: skip


def test_a_second_increment_of_a_chain_is_refused_naming_the_first(store: JobStore) -> None:
    _create(store, "night-2", _spec())
    with pytest.raises(FailedPrecondition, match="export night-2, an increment of dataset"):
        check_one_increment(store, _spec(), "alice")
    # Other chains, and exports that continue no parent, are not held up.
    check_one_increment(store, _spec(), "bob")
    check_one_increment(store, _spec(dataset="orders"), "alice")
    check_one_increment(store, _spec(mode="full"), "alice")
    check_one_increment(store, replace(_spec(), destination=DestinationSpec(
        uri="file:///elsewhere", dataset="users")), "alice")  # fmt: skip


def test_a_run_is_refused_while_another_increment_of_its_chain_runs(store: JobStore) -> None:
    # Both queued: the create refuses a second increment of a queued one, a resume does
    # not (the run's start does, below).
    _create(store, "night-2", _spec())
    store.transition("night-2", {JobState.QUEUED}, JobState.CANCELLED)
    _create(store, "night-2b", _spec())
    store.transition("night-2", {JobState.CANCELLED}, JobState.QUEUED)
    # Queued only: a run may start (the other, when it runs, finds this one running).
    check_one_increment(store, _spec(), "alice", job_id="night-2b", states={JobState.RUNNING})
    claimed = store.claim("replica-a", 30)
    assert claimed is not None and claimed[0].id == "night-2"
    check_one_increment(store, _spec(), "alice", job_id="night-2", states={JobState.RUNNING})
    with pytest.raises(FailedPrecondition, match=r"export night-2, .* is running"):
        check_one_increment(store, _spec(), "alice", job_id="night-2b", states={JobState.RUNNING})
    store.transition("night-2", {JobState.RUNNING}, JobState.SUCCEEDED, lease=claimed[1])
    check_one_increment(store, _spec(), "alice", job_id="night-2b", states={JobState.RUNNING})


def test_the_store_refuses_a_second_increment_of_the_chain_in_its_create(
    store: JobStore,
) -> None:
    # However the destination is spelt: the create transaction compares chains as the
    # check before planning does.
    _create(store, "night-2", _spec())
    other = replace(_spec(), destination=DestinationSpec(uri="/exports/./", dataset="users"))
    with pytest.raises(FailedPrecondition, match="export night-2, an increment of dataset"):
        _create(store, "night-2b", other)
    assert [job.id for job in store.unfinished()] == ["night-2"]


@pytest.mark.parametrize(
    "spelt",
    ["/exports", "file:///exports/", "/exports/./", "file://localhost/exports", " /exports"],
)
def test_another_spelling_of_the_destination_is_the_same_chain(store: JobStore, spelt: str) -> None:
    # The parent lookup reads the resolved folder: a second spelling must not fork it.
    _create(store, "night-2", _spec())
    other = replace(_spec(), destination=DestinationSpec(uri=spelt, dataset="users"))
    with pytest.raises(FailedPrecondition, match="export night-2, an increment of dataset"):
        check_one_increment(store, other, "alice")


def test_a_cloud_destination_with_a_trailing_slash_is_the_same_chain(store: JobStore) -> None:
    first = replace(_spec(), destination=DestinationSpec(uri="s3://bucket/exports", dataset="u"))
    _create(store, "night-2", first)
    other = replace(first, destination=DestinationSpec(uri="S3://bucket/exports/", dataset="u"))
    with pytest.raises(FailedPrecondition, match="export night-2, an increment of dataset"):
        check_one_increment(store, other, "alice")
    elsewhere = replace(first, destination=DestinationSpec(uri="s3://bucket/other", dataset="u"))
    check_one_increment(store, elsewhere, "alice")
