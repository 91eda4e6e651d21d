"""The JobStore contract, run against every implementation.

An implementation joins by subclassing JobStoreContract and overriding `open_store`
(and `reopenable` when a second store can see the first one's data): SQLite (a file and
":memory:") and PostgreSQL (a real server, tests/servers/postgres.py).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from sluice.server.committed.chain_tips import ChainTip
from sluice.server.errors import (
    FailedPrecondition,
    InvalidArgument,
    LeaseLost,
    NotFound,
    SluiceError,
)
from sluice.server.jobs import (
    FINAL_STATES,
    RESUMABLE_STATES,
    UNFINISHED_STATES,
    ChunkRecord,
    Job,
    JobError,
    JobFilter,
    JobState,
    JobStore,
    Lease,
    NewJob,
    Progress,
    SQLiteJobStore,
    postgres_forgetting,
)
from sluice.server.jobs.increment_chains import chain_tip
from sluice.server.jobs.model import AttemptEnd, AttemptOutcome, DeliveryState
from sluice.server.jobs.postgres import PostgresJobStore
from sluice.server.jobs.rows import EXPORT_DELETED, FORGOTTEN_ERROR
from sluice.server.jobs.signals import JobSignal, SignalKind
from sluice.server.jobs.sqlite_schema import SCHEMA_VERSION
from sluice.server.jobs.sqlite_schema import SPEC_DATASET as SQLITE_SPEC_DATASET
from sluice.server.planning.spec import (
    DestinationSpec,
    ExportSpec,
    IncrementalSpec,
    QuerySpec,
    RedactionRuleSpec,
    RedactionSpec,
    SourceSpec,
    SubjectSpec,
)
from tests.servers.postgres import PostgresServer

Q, R, S, F, C = (
    JobState.QUEUED,
    JobState.RUNNING,
    JobState.SUCCEEDED,
    JobState.FAILED,
    JobState.CANCELLED,
)


def make_spec(uri: str = "file:///data/users.parquet", **labels: str) -> ExportSpec:
    return ExportSpec(
        source=SourceSpec(uri=uri),
        destination=DestinationSpec(uri="file:///exports", dataset="users"),
        labels=tuple(sorted(labels.items())),
    )


def new_job(job_id: str, request_id: str = "", spec: ExportSpec | None = None) -> NewJob:
    spec = spec or make_spec(team="a")
    return NewJob(
        id=job_id, spec=spec, request_id=request_id, request_fingerprint=spec.fingerprint()
    )


def increment(
    job_id: str,
    creator: str,
    *,
    dataset: str = "users",
    request_id: str = "",
    destination: str = "file:///exports",
) -> NewJob:
    """An incremental export of `dataset` in `destination` by `creator`."""
    spec = ExportSpec(
        source=SourceSpec(uri="file:///data/users.parquet"),
        destination=DestinationSpec(uri=destination, dataset=dataset),
        incremental=IncrementalSpec(mode="incremental", cursor="updated_at"),
    )
    return NewJob(
        id=job_id,
        spec=spec,
        request_id=request_id,
        request_fingerprint=spec.fingerprint(),
        created_by=creator,
    )


def make_chunk(index: int, sha: str = "", rows: int = 100) -> ChunkRecord:
    return ChunkRecord(
        index=index,
        path=f"part-{index:06d}.jsonl.zst",
        records=rows,
        stored_bytes=1000 + index,
        sha256=sha or f"{index:064x}",
        content_digest=f"hmac-sha256:{index:064x}",
        source_start=index * rows,
        source_end=(index + 1) * rows,
        committed_at=datetime(2025, 3, 1, 12, 0, index, 123456, tzinfo=UTC),
    )


#: Personal values a request and its journal hold, each of which mark_deleted forgets.
EMAIL, NAME, CARD = "alice@example.com", "Bobby Tables", 4111111111111111
IDS = ("user-7f3a", "user-91c2", "user-0d44")
#: A custom rule's pattern and a webhook's token (in its query) are a request's values too.
PATTERN, TOKEN = r"bob\.pattern@example\.com", "tok-5ecret-93"


def personal_spec() -> ExportSpec:
    return ExportSpec(
        source=SourceSpec(
            uri=f"s3://lake/people/{EMAIL}/", query=f"SELECT * FROM users WHERE name = '{NAME}'"
        ),
        destination=DestinationSpec(uri="file:///exports", dataset="users"),
        query=QuerySpec(
            columns=("id", "email"),
            where=f"email = '{EMAIL}' AND age > 40",
            ids=IDS,
            id_column="user_id",
        ),
        labels=(("sluice.schedule", "nightly"), ("subject", EMAIL), ("team", "a")),
        redaction=RedactionSpec(
            level="moderate",
            rules=(
                RedactionRuleSpec(pattern=PATTERN, action="redact"),
                RedactionRuleSpec(pattern="email", action="mask", keep_last=4),
                RedactionRuleSpec(column="email", action="hash"),
            ),
        ),
        notify=(f"https://hooks.example.com/x?token={TOKEN}", f"mailto:{EMAIL}", "ops"),
        subject=SubjectSpec(EMAIL, ("crm",)),
    )


def personal_chunk(index: int) -> ChunkRecord:
    chunk = replace(make_chunk(index % 60), index=index, path=f"part-{index:06d}.jsonl.zst")
    return replace(chunk, cursor_max=CARD + index, source_last_key=(EMAIL, index))


def assert_utc(value: datetime | None) -> None:
    assert value is not None
    assert value.utcoffset() == timedelta(0)


class JobStoreContract:
    reopenable = False

    def open_store(self, tmp_path: Path) -> JobStore:
        raise NotImplementedError

    @pytest.fixture
    def opener(self, tmp_path: Path) -> Iterator[Callable[[], JobStore]]:
        opened: list[JobStore] = []

        def open_one() -> JobStore:
            opened.append(self.open_store(tmp_path))
            return opened[-1]

        yield open_one
        for store in opened:
            store.close()

    @pytest.fixture
    def store(self, opener: Callable[[], JobStore]) -> JobStore:
        return opener()

    # -- check (the store watch) ------------------------------------------------------

    def test_check_counts_every_unfinished_export_and_reads_the_schema(
        self, store: JobStore
    ) -> None:
        for job_id in ("a", "b", "c", "d"):
            store.create(new_job(job_id))
        store.transition("a", {Q}, R)
        store.transition("d", {Q}, C)
        check = store.check()
        assert (check.running, check.queued) == (1, 2)
        assert check.schema.found == check.schema.supported > 0

    # -- create / get --------------------------------------------------------------

    def test_create_returns_queued_job(self, store: JobStore) -> None:
        spec = make_spec(team="a", env="prod")
        job, created = store.create(new_job("j1", "req-1", spec))
        assert created
        assert (job.id, job.state, job.request_id) == ("j1", Q, "req-1")
        assert job.spec == spec
        assert job.labels == {"team": "a", "env": "prod"}
        assert job.progress == Progress()
        assert job.started_at is None and job.finished_at is None and job.error is None
        assert job.manifest_uri == ""
        assert_utc(job.created_at)
        assert_utc(job.updated_at)
        assert store.get("j1") == job

    def test_create_is_idempotent_by_request_id(self, store: JobStore) -> None:
        first, created = store.create(new_job("j1", "req-1"))
        again, created_again = store.create(new_job("j2", "req-1"))
        assert created and not created_again
        assert again == first
        with pytest.raises(NotFound):
            store.get("j2")

    def test_reused_request_id_with_other_request_is_refused(self, store: JobStore) -> None:
        store.create(new_job("j1", "req-1", make_spec("file:///a.parquet")))
        with pytest.raises(InvalidArgument) as err:
            store.create(new_job("j2", "req-1", make_spec("file:///b.parquet")))
        assert err.value.violations[0].field == "request_id"
        assert "export j1" in err.value.violations[0].description
        with pytest.raises(NotFound):
            store.get("j2")

    def test_jobs_without_request_id_do_not_collide(self, store: JobStore) -> None:
        for job_id in ("j1", "j2", "j3"):
            job, created = store.create(new_job(job_id))
            assert created and job.request_id == ""
        page = store.list(JobFilter(), page_size=10)
        assert {j.id for j in page.jobs} == {"j1", "j2", "j3"}

    def test_find_by_request_id(self, store: JobStore) -> None:
        job, _ = store.create(new_job("j1", "req-1"))
        store.create(new_job("j2"))
        assert store.find_by_request_id("req-1", "") == job
        assert store.find_by_request_id("req-2", "") is None
        # Jobs created without a request id are not found under the empty one.
        assert store.find_by_request_id("", "") is None

    def test_request_ids_are_per_creator(self, store: JobStore) -> None:
        # One principal's request id neither finds nor blocks another's (an oracle of
        # another's ids, and a way to squat their predictable next one).
        alice, created = store.create(replace(new_job("j1", "req-1"), created_by="alice"))
        assert created and alice.request_id == "req-1"
        assert store.find_by_request_id("req-1", "bob") is None
        assert store.find_by_request_id("req-1", "") is None
        other = replace(new_job("j2", "req-1", make_spec(team="b")), created_by="bob")
        bob, created = store.create(other)
        assert created and (bob.id, bob.request_id, bob.created_by) == ("j2", "req-1", "bob")
        assert store.find_by_request_id("req-1", "alice") == store.get("j1")
        assert store.find_by_request_id("req-1", "bob") == store.get("j2")
        again, created = store.create(replace(new_job("j3", "req-1"), created_by="alice"))
        assert (again.id, created) == ("j1", False)

    def test_get_unknown_is_not_found(self, store: JobStore) -> None:
        with pytest.raises(NotFound, match="export 'nope' not found"):
            store.get("nope")

    def test_a_reused_export_id_is_a_server_error_not_a_caller_one(self, store: JobStore) -> None:
        store.create(new_job("j1"))
        with pytest.raises(SluiceError, match="already exists") as caught:
            store.create(new_job("j1"))
        assert not isinstance(caught.value, InvalidArgument)

    def test_concurrent_creates_with_one_request_id_make_one_job(self, store: JobStore) -> None:
        self._race_creates([store] * 8)
        assert len(store.list(JobFilter(), page_size=100).jobs) == 1

    @staticmethod
    def _race_creates(stores: list[JobStore]) -> None:
        results, errors = JobStoreContract._race(stores, lambda n: new_job(f"j{n}", "same-request"))
        assert errors == []
        assert sum(created for _, created in results) == 1
        assert len({job.id for job, _ in results}) == 1

    @staticmethod
    def _race(
        stores: list[JobStore], new: Callable[[int], NewJob]
    ) -> tuple[list[tuple[Job, bool]], list[BaseException]]:
        """`new(n)` created in store n, all at once: what the creates returned, and
        what they raised."""
        barrier = threading.Barrier(len(stores))
        results: list[tuple[Job, bool]] = []
        errors: list[BaseException] = []

        def worker(n: int, store: JobStore) -> None:
            barrier.wait()
            try:
                results.append(store.create(new(n)))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n, s)) for n, s in enumerate(stores)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results, errors

    # -- one increment per chain ---------------------------------------------------

    def test_a_second_increment_of_a_chain_is_refused_in_the_create(self, store: JobStore) -> None:
        # The store decides, in its create transaction: the service's check before it
        # plans does not see an increment another replica creates meanwhile.
        assert store.create(increment("i1", "alice", request_id="req-1"))[1]
        with pytest.raises(FailedPrecondition) as refused:
            store.create(increment("i2", "alice", request_id="req-2"))
        assert "export i1, an increment of dataset 'users' in file:///exports" in str(refused.value)
        assert "is queued" in str(refused.value)
        with pytest.raises(NotFound):
            store.get("i2")
        assert store.find_by_request_id("req-2", "alice") is None
        # Other chains (creator, dataset), full exports and a retry of the first request
        # are not refused; once the first ended, the chain takes its next increment.
        assert store.create(increment("i3", "bob"))[1]
        assert store.create(increment("i4", "alice", dataset="orders"))[1]
        assert store.create(replace(new_job("f1"), created_by="alice"))[1]
        again, created = store.create(increment("i7", "alice", request_id="req-1"))
        assert (again.id, created) == ("i1", False)
        store.transition("i1", {Q}, R)
        with pytest.raises(FailedPrecondition, match=r"export i1,.* is running"):
            store.create(increment("i5", "alice"))
        store.transition("i1", {R}, S)
        assert store.create(increment("i6", "alice"))[1]

    def test_the_create_compares_only_increments_of_the_chain_however_spelt(
        self, store: JobStore
    ) -> None:
        # The create loads only unfinished increments of the creator and dataset (not
        # every queued export); the destination's spellings are still one chain.
        for n in range(20):
            assert store.create(replace(new_job(f"f{n}"), created_by="alice"))[1]
        assert store.create(increment("b1", "bob"))[1]
        assert store.create(increment("o1", "alice", dataset="orders"))[1]
        assert store.create(increment("i1", "alice", destination="/exports/"))[1]
        with pytest.raises(FailedPrecondition, match=r"export i1, an increment of dataset 'users'"):
            store.create(increment("i2", "alice", destination="file:///exports/"))
        assert store.create(increment("x1", "alice", destination="file:///elsewhere"))[1]
        store.transition("i1", {Q}, C)
        assert store.create(increment("i3", "alice", destination="file:///exports"))[1]

    def test_the_newest_succeeded_exports_of_a_dataset_come_last_finished_first(
        self, store: JobStore
    ) -> None:
        # Where a chain's newest committed export is (increment_chains.chain_tip): only
        # SUCCEEDED ones of the creator and dataset, a DELETED one left out.
        for job_id in ("a", "b", "f"):
            store.create(increment(job_id, "alice"))
            store.transition(job_id, {Q}, R)
            store.transition(job_id, {R}, S)
        store.mark_deleted("f", {S})
        store.create(replace(new_job("c"), created_by="alice"))
        store.transition("c", {Q}, R)
        store.create(increment("d", "bob"))
        store.create(increment("e", "alice", dataset="orders"))
        for job_id in ("d", "e"):
            store.transition(job_id, {Q}, R)
            store.transition(job_id, {R}, S)
        assert [j.id for j in store.newest_succeeded("alice", "users", 10)] == ["b", "a"]
        assert [j.id for j in store.newest_succeeded("alice", "users", 1)] == ["b"]
        assert store.newest_succeeded("carol", "users", 10) == []
        # The chain's: its destination however spelt, not another destination's.
        store.create(increment("x", "alice", destination="file:///elsewhere"))
        store.transition("x", {Q}, R)
        store.transition("x", {R}, S, manifest_uri="file:///elsewhere/users/x/manifest.json")
        tip = chain_tip(store, increment("n", "alice", destination="/exports/").spec, "alice")
        assert tip is not None and tip.export_id == "b"
        full = replace(increment("n", "alice").spec, incremental=IncrementalSpec(mode="full"))
        assert chain_tip(store, full, "alice") is None

    def test_the_chain_tip_is_found_behind_many_exports_to_other_destinations(
        self, store: JobStore
    ) -> None:
        # newest_succeeded filters by creator and dataset, not destination: the chain's
        # tip may lie behind any number of newer exports of the dataset elsewhere, and
        # chain_tip pages (after=) until it finds it.
        def succeed(job: NewJob) -> None:
            store.create(job)
            store.transition(job.id, {Q}, R)
            uri = f"{job.spec.destination.uri}/users/{job.id}/manifest.json"
            store.transition(job.id, {R}, S, manifest_uri=uri)

        succeed(increment("tip", "alice", destination="file:///exports"))
        for n in range(230):
            succeed(increment(f"t{n:03}", "alice", destination=f"file:///tenants/{n}"))
        tip = chain_tip(store, increment("n", "alice", destination="file:///exports").spec, "alice")
        assert tip == ChainTip("tip", "file:///exports/users/tip/manifest.json")
        first = store.newest_succeeded("alice", "users", 100)
        second = store.newest_succeeded("alice", "users", 100, after=first[-1])
        rest = store.newest_succeeded("alice", "users", 100, after=second[-1])
        ids = [j.id for j in (*first, *second, *rest)]
        assert ids == [f"t{n:03}" for n in reversed(range(230))] + ["tip"]

    def test_concurrent_increments_of_one_chain_make_one_export(self, store: JobStore) -> None:
        created, refused = self._race_increments([store] * 8)
        assert len(created) == 1 and len(refused) == 7
        assert [j.id for j in store.unfinished()] == created

    @staticmethod
    def _race_increments(stores: list[JobStore]) -> tuple[list[str], list[str]]:
        """Increments of one chain created at once, one per store; the ids created and
        the messages of the refusals."""
        results, errors = JobStoreContract._race(stores, lambda n: increment(f"i{n}", "alice"))
        assert all(isinstance(exc, FailedPrecondition) for exc in errors), errors
        created = [job.id for job, _ in results]
        refused = [str(exc) for exc in errors]
        assert all(f"export {created[0]}, an increment" in m for m in refused)
        return created, refused

    # -- list ----------------------------------------------------------------------

    def test_list_pages_newest_first_exactly_once(self, store: JobStore) -> None:
        for n in range(25):
            store.create(new_job(f"j{n:02d}"))
        seen: list[Job] = []
        token = ""
        pages = 0
        while True:
            page = store.list(JobFilter(), page_size=10, page_token=token)
            pages += 1
            seen.extend(page.jobs)
            token = page.next_page_token
            if not token:
                break
        assert pages == 3
        assert [len(p) for p in (seen[:10], seen[10:20], seen[20:])] == [10, 10, 5]
        assert len({j.id for j in seen}) == 25
        keys = [(j.created_at, j.id) for j in seen]
        assert keys == sorted(keys, reverse=True)

    def test_list_exact_multiple_has_no_empty_last_page(self, store: JobStore) -> None:
        for n in range(4):
            store.create(new_job(f"j{n}"))
        first = store.list(JobFilter(), page_size=2)
        second = store.list(JobFilter(), page_size=2, page_token=first.next_page_token)
        assert len(second.jobs) == 2 and second.next_page_token == ""

    def test_list_filters_by_any_state(self, store: JobStore) -> None:
        for job_id in ("q", "r", "f"):
            store.create(new_job(job_id))
        store.transition("r", {Q}, R)
        store.transition("f", {Q}, F)
        page = store.list(JobFilter(states=frozenset({Q, F})), page_size=10)
        assert {j.id for j in page.jobs} == {"q", "f"}
        assert store.list(JobFilter(states=frozenset({S})), page_size=10).jobs == ()

    def test_list_filters_by_all_labels(self, store: JobStore) -> None:
        store.create(new_job("a-prod", spec=make_spec(team="a", env="prod")))
        store.create(new_job("a-dev", spec=make_spec(team="a", env="dev")))
        store.create(new_job("b-prod", spec=make_spec(team="b", env="prod")))
        store.create(new_job("none", spec=make_spec()))

        def ids(*labels: tuple[str, str]) -> set[str]:
            return {j.id for j in store.list(JobFilter(labels=labels), page_size=10).jobs}

        assert ids(("team", "a")) == {"a-prod", "a-dev"}
        assert ids(("team", "a"), ("env", "prod")) == {"a-prod"}
        assert ids(("env", "prod")) == {"a-prod", "b-prod"}
        assert ids(("team", "c")) == set()
        assert ids() == {"a-prod", "a-dev", "b-prod", "none"}

    def test_creator_is_kept_and_filters_the_list(self, store: JobStore) -> None:
        for job_id, owner in (("a1", "alice"), ("b1", "bob"), ("a2", "alice"), ("n", "")):
            store.create(replace(new_job(job_id), created_by=owner))
        assert store.get("a1").created_by == "alice" and store.get("n").created_by == ""

        def ids(owner: str | None) -> set[str]:
            return {j.id for j in store.list(JobFilter(created_by=owner), page_size=10).jobs}

        assert ids("alice") == {"a1", "a2"}
        assert ids("") == {"n"}
        assert ids("carol") == set()
        assert ids(None) == {"a1", "b1", "a2", "n"}
        assert [j.created_by for j in store.unfinished() if j.id == "b1"] == ["bob"]
        restored = replace(store.get("a1"), id="r1", created_by="dave", state=S)
        assert store.restore(restored, []) is True
        assert store.get("r1").created_by == "dave"

    def test_list_combines_state_and_label_filters_across_pages(self, store: JobStore) -> None:
        for n in range(7):
            store.create(new_job(f"j{n}", spec=make_spec(team="a" if n % 2 else "b")))
        where = JobFilter(states=frozenset({Q}), labels=(("team", "a"),))
        first = store.list(where, page_size=2)
        second = store.list(where, page_size=2, page_token=first.next_page_token)
        assert second.next_page_token == ""
        assert {j.id for j in first.jobs + second.jobs} == {"j1", "j3", "j5"}

    @pytest.mark.parametrize(
        "token", ["%%%", "bm90IGpzb24", "e30", "WzEsMl0", "eyJjIjogMSwgImkiOiAyfQ", "x"]
    )
    def test_list_refuses_malformed_page_token(self, store: JobStore, token: str) -> None:
        with pytest.raises(InvalidArgument) as err:
            store.list(JobFilter(), page_size=10, page_token=token)
        assert err.value.violations[0].field == "page_token"

    # -- transitions ---------------------------------------------------------------

    def test_transition_through_a_successful_run(self, store: JobStore) -> None:
        queued, _ = store.create(new_job("j1"))
        running = store.transition("j1", {Q}, R)
        assert running.state == R
        assert_utc(running.started_at)
        assert running.finished_at is None
        assert running.updated_at >= queued.updated_at
        done = store.transition("j1", {R}, S, manifest_uri="file:///exports/users/j1/m.json")
        assert done.state == S
        assert done.started_at == running.started_at
        assert_utc(done.finished_at)
        assert done.manifest_uri == "file:///exports/users/j1/m.json"
        assert store.get("j1") == done

    def test_transition_refusal_names_current_state(self, store: JobStore) -> None:
        store.create(new_job("j1"))
        with pytest.raises(
            FailedPrecondition, match=r"^export 'j1' is queued; expected cancelled or failed$"
        ):
            store.transition("j1", RESUMABLE_STATES, Q)
        assert store.get("j1").state == Q

    def test_transition_unknown_job_is_not_found(self, store: JobStore) -> None:
        with pytest.raises(NotFound):
            store.transition("nope", {Q}, R)

    def test_second_claim_of_a_queued_job_is_refused(self, store: JobStore) -> None:
        store.create(new_job("j1"))
        store.transition("j1", {Q}, R)
        with pytest.raises(FailedPrecondition, match="is running"):
            store.transition("j1", {Q}, R)

    def test_failure_records_error_and_resume_clears_it(self, store: JobStore) -> None:
        store.create(new_job("j1"))
        first_run = store.transition("j1", {Q}, R)
        error = JobError(code="UNAVAILABLE", message="storage timed out", transient=True)
        failed = store.transition("j1", {R}, F, error=error)
        assert failed.error == error
        assert failed.finished_at is not None
        resumed = store.transition("j1", RESUMABLE_STATES, Q)
        assert resumed.finished_at is None
        assert resumed.error is None
        rerun = store.transition("j1", {Q}, R)
        assert rerun.started_at == first_run.started_at
        assert rerun.finished_at is None

    def test_manifest_uri_is_kept_when_not_given(self, store: JobStore) -> None:
        store.create(new_job("j1"))
        store.transition("j1", {Q}, R, manifest_uri="mem://m.json")
        assert store.transition("j1", {R}, C).manifest_uri == "mem://m.json"

    def test_deleting_a_succeeded_export_keeps_when_it_finished(self, store: JobStore) -> None:
        store.create(new_job("j1"))
        store.transition("j1", {Q}, R)
        done = store.transition("j1", {R}, S, manifest_uri="file:///exports/users/j1/m.json")
        deleted = store.mark_deleted("j1", {S})
        assert deleted.state == JobState.DELETED
        assert deleted.state.final
        assert deleted.state not in RESUMABLE_STATES
        assert (deleted.started_at, deleted.finished_at) == (done.started_at, done.finished_at)
        assert deleted.manifest_uri == done.manifest_uri
        assert store.get("j1") == deleted
        page = store.list(JobFilter(states=frozenset({JobState.DELETED})), page_size=10)
        assert [job.id for job in page.jobs] == ["j1"]
        with pytest.raises(FailedPrecondition, match="is deleted"):
            store.transition("j1", RESUMABLE_STATES, Q)

    @pytest.mark.parametrize("final", sorted(FINAL_STATES))
    def test_every_final_state_sets_finished_at(self, store: JobStore, final: JobState) -> None:
        store.create(new_job("j1"))
        if final is JobState.DELETED:
            job = store.mark_deleted("j1", {Q})
        else:
            job = store.transition("j1", {Q}, final)
        assert job.state == final
        assert_utc(job.finished_at)
        assert job.started_at is None

    # -- forgetting a deleted export's request ---------------------------------------

    def test_transition_never_enters_deleted(self, store: JobStore) -> None:
        # Only mark_deleted does, forgetting the request's values in the same write.
        store.create(new_job("j1"))
        with pytest.raises(ValueError, match="mark_deleted"):
            store.transition("j1", {Q}, JobState.DELETED)
        assert store.get("j1").state == Q

    def test_mark_deleted_forgets_the_request_values(self, store: JobStore) -> None:
        store.create(new_job("j1", "req-1", personal_spec()))
        store.transition("j1", {Q}, R)
        for index in range(2):
            store.record_chunk(
                "j1", personal_chunk(index), Progress(records=100 * (index + 1), chunks=index + 1)
            )
        done = store.transition("j1", {R}, S, manifest_uri="file:///exports/users/j1/m.json")
        done_deliveries = store.notifications("j1")

        deleted = store.mark_deleted("j1", {S})

        assert deleted == store.get("j1")
        assert deleted.state == JobState.DELETED
        query = deleted.spec.query
        assert query.where == "email = ? AND age > ?"
        assert query.ids == ("?", "?", "?")  # the count stays, as the manifest keeps it
        assert (query.id_column, query.columns) == ("user_id", ("id", "email"))
        assert deleted.spec.source.query == "SELECT * FROM users WHERE name = ?"
        assert deleted.spec.subject is not None
        assert deleted.spec.subject.subject_id == "?"
        assert deleted.spec.subject.sources == ("crm",)
        rules = done.spec.redaction.rules
        assert (
            deleted.spec.redaction.rules
            == (
                replace(rules[0], pattern="?"),  # a regular expression: maybe someone's value
                *rules[1:],  # a built-in entity's name, a column's rule
            )
        )
        assert deleted.spec.redaction.level == "moderate"
        # Notify targets as logs show them, in the spec and the deliveries alike.
        shown = ("https://hooks.example.com/…", "mailto:?", "ops")
        assert deleted.spec.notify == shown
        deliveries = store.notifications("j1")
        assert tuple(d.target for d in deliveries) == shown
        assert [d.delivery_id for d in deliveries] == [d.delivery_id for d in done_deliveries]
        # A source's location may name a person (its root stays), a label's value too:
        # only the schedule's name, which lists a schedule's runs, stays.
        assert deleted.spec.source.uri == "s3://lake/…"
        labels = (("sluice.schedule", "nightly"), ("subject", "?"), ("team", "?"))
        assert deleted.spec.labels == labels
        assert deleted.labels == dict(labels)
        for label in (("subject", EMAIL), ("team", "a")):
            assert not store.list(JobFilter(labels=(label,)), page_size=5).jobs
        for label in labels:
            assert store.list(JobFilter(labels=(label,)), page_size=5).jobs == (deleted,)
        # What shows the job stays.
        assert deleted.spec.destination == done.spec.destination
        assert (deleted.request_id, deleted.manifest_uri) == ("req-1", done.manifest_uri)
        assert deleted.progress == done.progress
        assert (deleted.created_at, deleted.started_at, deleted.finished_at) == (
            done.created_at,
            done.started_at,
            done.finished_at,
        )
        chunks = store.chunks("j1")
        assert [(c.cursor_max, c.source_last_key) for c in chunks] == [(None, None)] * 2
        assert [replace(c, cursor_max=None, source_last_key=None) for c in chunks] == [
            replace(personal_chunk(i), cursor_max=None, source_last_key=None) for i in range(2)
        ]

    def test_mark_deleted_is_a_compare_and_set(self, store: JobStore) -> None:
        store.create(new_job("j1", spec=personal_spec()))
        with pytest.raises(FailedPrecondition, match="is queued"):
            store.mark_deleted("j1", RESUMABLE_STATES)
        job = store.get("j1")
        assert (job.state, job.spec) == (Q, personal_spec())
        with pytest.raises(NotFound):
            store.mark_deleted("nope", RESUMABLE_STATES)

    def test_mark_deleted_keeps_the_error_it_is_given_by_its_code(self, store: JobStore) -> None:
        store.create(new_job("j1", spec=personal_spec()))
        error = JobError("UNAVAILABLE", "source gone", transient=True)
        failed = store.transition("j1", {Q}, F, error=error)
        deleted = store.mark_deleted("j1", RESUMABLE_STATES, error=error)
        assert (deleted.error, deleted.finished_at) == (
            JobError("UNAVAILABLE", FORGOTTEN_ERROR, transient=True),
            failed.finished_at,
        )

    def test_mark_deleted_forgets_what_error_messages_quote(self, store: JobStore) -> None:
        # A failed export's messages may quote its request's values (a where literal, a
        # subject's e-mail, a path naming a person): the job's, each attempt's and each
        # delivery's keep only their code once it is deleted.
        store.create(new_job("j1", "req-1", personal_spec()))
        first = self._claim(store, "r1", 60)
        store.begin_attempt(first)
        retried = JobError("UNAVAILABLE", f"s3://b/people/{NAME}.parquet: timed out", True)
        store.retry_later(first, retried, datetime.now(UTC) - timedelta(seconds=1))
        second = self._claim(store, "r2", 60)
        store.begin_attempt(second)
        failed = JobError("FAILED_PRECONDITION", f"no rows where email = '{EMAIL}'")
        store.transition(
            "j1",
            {R},
            F,
            error=failed,
            lease=second,
            attempt=AttemptEnd(AttemptOutcome.FAILED, failed),
        )
        assert store.record_notification_attempt(
            "j1.1",
            state=DeliveryState.FAILED,
            error=f"SMTPRecipientsRefused: {EMAIL}",
            attempted_at=datetime.now(UTC),
            next_attempt_at=None,
        )
        before = store.get("j1")
        assert (before.error, before.values_forgotten) == (failed, False)  # the test can fail

        deleted = store.mark_deleted("j1", RESUMABLE_STATES, error=before.error)

        assert deleted.values_forgotten
        assert deleted.error == JobError("FAILED_PRECONDITION", FORGOTTEN_ERROR)
        assert [(a.outcome, a.error) for a in store.attempts("j1")] == [
            (AttemptOutcome.RETRIED, JobError("UNAVAILABLE", FORGOTTEN_ERROR, True)),
            (AttemptOutcome.FAILED, JobError("FAILED_PRECONDITION", FORGOTTEN_ERROR)),
        ]
        # The deliveries still pending are failed: nothing delivers a deleted export's.
        assert [(d.state, d.last_error) for d in store.notifications("j1")] == [
            (DeliveryState.FAILED, EXPORT_DELETED),
            (DeliveryState.FAILED, FORGOTTEN_ERROR),
            (DeliveryState.FAILED, EXPORT_DELETED),
        ]
        assert store.forget_deleted() == 0

    def test_a_delivery_ending_after_the_delete_records_no_message(self, store: JobStore) -> None:
        # Claimed before the delete, its attempt ends after it: the error it brings back
        # (quoting the address the delete forgot) is recorded as forgotten at once.
        store.create(new_job("j1", spec=personal_spec()))
        store.transition("j1", {Q}, C)
        now = datetime.now(UTC)
        claimed = store.claim_notifications(timedelta(minutes=1), 10)
        assert [d.delivery_id for d in claimed] == ["j1.0", "j1.1", "j1.2"]
        store.mark_deleted("j1", {C})
        for delivery, error in zip(claimed, ["", f"SMTP 550 {EMAIL}", "HTTP 500"], strict=True):
            assert store.record_notification_attempt(
                delivery.delivery_id,
                state=DeliveryState.FAILED if error else DeliveryState.DELIVERED,
                error=error,
                attempted_at=now,
                next_attempt_at=None,
            )
        got = [(d.attempts, d.last_error) for d in store.notifications("j1")]
        assert got == [(1, ""), (1, FORGOTTEN_ERROR), (1, FORGOTTEN_ERROR)]
        assert store.forget_deleted() == 0

    def test_a_retry_ending_after_the_delete_fails_the_delivery(self, store: JobStore) -> None:
        # Claimed before the delete, its attempt fails after it and would be retried: the
        # delivery ends failed, as the delete failed the others (never due again), and
        # says so as they do (its own error was forgotten with the export's values).
        store.create(new_job("j1", spec=personal_spec()))
        store.transition("j1", {Q}, C)
        (first, *_) = store.claim_notifications(timedelta(minutes=1), 10)
        store.mark_deleted("j1", {C})
        now = datetime.now(UTC)
        assert store.record_notification_attempt(
            first.delivery_id,
            state=DeliveryState.PENDING,
            error="HTTP 500",
            attempted_at=now,
            next_attempt_at=now + timedelta(seconds=5),
        )
        (delivery, *_) = store.notifications("j1")
        assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == (
            DeliveryState.FAILED,
            1,
            None,
        )
        assert delivery.last_error == EXPORT_DELETED
        assert store.forget_deleted() == 0

    def test_forget_deleted_fails_deliveries_left_pending_by_an_earlier_delete(
        self, store: JobStore
    ) -> None:
        # Deleted by a Sluice that left its deliveries pending: the next start fails them.
        store.create(new_job("j1", spec=personal_spec()))
        store.transition("j1", {Q}, C)
        store.mark_deleted("j1", {C})
        with store._tx() as db:  # type: ignore[attr-defined]
            db.execute("UPDATE notifications SET state = 'pending', last_error = ''")

        assert store.forget_deleted() == 1
        assert {(d.state, d.last_error) for d in store.notifications("j1")} == {
            (DeliveryState.FAILED, EXPORT_DELETED)
        }
        assert store.forget_deleted() == 0

    def test_forget_deleted_forgets_errors_a_spec_only_forgetting_kept(
        self, store: JobStore
    ) -> None:
        # Deleted by a Sluice that masked the spec but kept error messages: the next start
        # forgets them, leaving the spec as it was masked.
        for job_id in ("j1", "j2", "j3", "j4"):
            store.create(new_job(job_id, spec=personal_spec()))
        lease = self._claim(store, "r1", 60)  # j1, the oldest
        store.begin_attempt(lease)
        end = AttemptEnd(AttemptOutcome.CANCELLED, JobError("CANCELLED", "cancelled"))
        store.transition("j1", {R}, C, lease=lease, attempt=end)
        deleted = [store.mark_deleted(j, {Q, C}) for j in ("j1", "j2", "j3", "j4")]
        with store._tx() as db:  # type: ignore[attr-defined]
            db.execute(
                "UPDATE jobs SET error_code = 'INTERNAL', error_transient = false,"
                f" error_message = 'where {EMAIL}' WHERE id = 'j3'"
            )
            db.execute(f"UPDATE attempts SET error_message = 'where {EMAIL}' WHERE job_id = 'j1'")
            db.execute(
                f"UPDATE notifications SET last_error = 'refused {EMAIL}' WHERE job_id = 'j2'"
                " AND idx = 1"
            )
        assert store.get("j3").error == JobError("INTERNAL", f"where {EMAIL}")

        assert store.forget_deleted() == 3
        assert store.get("j3").error == JobError("INTERNAL", FORGOTTEN_ERROR)
        (attempt,) = store.attempts("j1")
        assert attempt.error == JobError("CANCELLED", FORGOTTEN_ERROR)
        assert [d.last_error for d in store.notifications("j2")] == [
            EXPORT_DELETED,
            FORGOTTEN_ERROR,
            EXPORT_DELETED,
        ]
        assert [store.get(j.id).spec for j in deleted] == [j.spec for j in deleted]
        assert store.forget_deleted() == 0

    def test_forget_deleted_forgets_labels_a_spec_only_forgetting_kept(
        self, store: JobStore
    ) -> None:
        # Deleted by a Sluice that masked the spec's values but kept labels: the next
        # start forgets their values, in the spec and the rows listing filters on.
        store.create(new_job("j1", spec=personal_spec()))
        store.create(new_job("j2", spec=personal_spec()))
        masked = [store.mark_deleted(j, {Q}) for j in ("j1", "j2")]
        kept = replace(masked[0].spec, labels=personal_spec().labels)
        with store._tx() as db:  # type: ignore[attr-defined]
            db.execute(f"UPDATE job_labels SET value = '{EMAIL}' WHERE key = 'subject'")
            db.execute(
                "UPDATE jobs SET spec_json = '" + kept.to_json().replace("'", "''") + "'"
                " WHERE id = 'j1'"
            )
        by_subject = JobFilter(labels=(("subject", EMAIL),))
        assert len(store.list(by_subject, page_size=5).jobs) == 2

        assert store.forget_deleted() == 2
        assert not store.list(by_subject, page_size=5).jobs
        assert [store.get(j).spec for j in ("j1", "j2")] == [m.spec for m in masked]
        assert store.forget_deleted() == 0

    def test_a_deleted_job_is_masked_again_unchanged(self, store: JobStore) -> None:
        store.create(new_job("j1", spec=personal_spec()))
        first = store.mark_deleted("j1", {Q})
        again = store.mark_deleted("j1", {JobState.DELETED})
        assert (again.spec, again.finished_at) == (first.spec, first.finished_at)
        with pytest.raises(FailedPrecondition, match="is deleted"):
            store.mark_deleted("j1", RESUMABLE_STATES)

    def test_marks_in_a_batch_forget_as_one_alone(self, store: JobStore) -> None:
        store.create(new_job("j1", spec=personal_spec()))
        store.create(new_job("j2", spec=personal_spec()))
        alone = store.mark_deleted("j1", {Q})
        batched = store.mark_deleted("j2", {Q}, batch=True)
        store.erase_forgotten()
        assert batched.spec == alone.spec
        assert store.get("j2") == batched

    def test_a_forgotten_request_answers_its_request_id_with_the_deleted_job(
        self, store: JobStore
    ) -> None:
        # Its fingerprint is forgotten with it (a digest of the request would confirm a
        # guessed value), so a retry and another request with the id are alike: both
        # get the deleted job, never a new export.
        store.create(new_job("j1", "req-1", personal_spec()))
        deleted = store.mark_deleted("j1", {Q})
        for spec in (personal_spec(), make_spec(team="b")):
            job, created = store.create(new_job("j2", "req-1", spec))
            assert (job, created) == (deleted, False)
        assert store.find_by_request_id("req-1", "") == deleted
        with pytest.raises(NotFound):
            store.get("j2")

    def test_forget_deleted_forgets_jobs_deleted_before_stores_forgot(
        self, store: JobStore
    ) -> None:
        # A job deleted by an earlier Sluice: DELETED with its request kept as sent.
        store.create(new_job("j0", spec=personal_spec()))
        done = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        old = Job(
            id="j1",
            spec=personal_spec(),
            state=JobState.DELETED,
            created_at=done,
            updated_at=done,
            request_id="req-1",
            started_at=done,
            finished_at=done,
            progress=Progress(records=200, chunks=2),
            manifest_uri="file:///exports/users/j1/manifest.json",
        )
        assert store.restore(old, [personal_chunk(0), personal_chunk(1)])
        forgotten_now = store.mark_deleted("j0", {Q})

        assert store.forget_deleted() == 1
        job = store.get("j1")
        assert job.spec == forgotten_now.spec
        assert job.values_forgotten
        # Nothing else changed.
        assert replace(job, spec=old.spec, revision=0, values_forgotten=False) == old
        assert [(c.cursor_max, c.source_last_key) for c in store.chunks("j1")] == [(None, None)] * 2
        assert store.forget_deleted() == 0
        assert store.create(new_job("j2", "req-1", make_spec()))[0].id == "j1"

    # -- chunks and progress -------------------------------------------------------

    def test_chunks_come_back_in_index_order(self, store: JobStore) -> None:
        store.create(new_job("j1"))
        for index in (2, 0, 1):
            store.record_chunk("j1", make_chunk(index), Progress(chunks=1))
        chunks = store.chunks("j1")
        assert [c.index for c in chunks] == [0, 1, 2]
        assert chunks[1] == make_chunk(1)
        assert_utc(chunks[1].committed_at)

    def test_chunks_of_a_job_without_any_is_empty(self, store: JobStore) -> None:
        store.create(new_job("j1"))
        assert list(store.chunks("j1")) == []

    def test_record_chunk_stores_progress_with_it(self, store: JobStore) -> None:
        store.create(new_job("j1"))
        progress = Progress(
            records=100, chunks=1, stored_bytes=1000, source_rows_done=100, source_rows_total=900
        )
        store.record_chunk("j1", make_chunk(0), progress)
        assert store.get("j1").progress == progress

    def test_same_chunk_recorded_twice_is_a_no_op(self, store: JobStore) -> None:
        store.create(new_job("j1"))
        store.record_chunk("j1", make_chunk(0), Progress(records=100, chunks=1))
        store.record_chunk("j1", make_chunk(0), Progress(records=999, chunks=9))
        assert list(store.chunks("j1")) == [make_chunk(0)]
        assert store.get("j1").progress == Progress(records=100, chunks=1)

    def test_other_chunk_at_a_recorded_index_is_refused(self, store: JobStore) -> None:
        store.create(new_job("j1"))
        store.record_chunk("j1", make_chunk(0), Progress(records=100, chunks=1))
        with pytest.raises(FailedPrecondition, match="chunk 0"):
            store.record_chunk("j1", make_chunk(0, sha="f" * 64), Progress(chunks=2))
        assert list(store.chunks("j1")) == [make_chunk(0)]
        assert store.get("j1").progress == Progress(records=100, chunks=1)

    def test_chunk_journals_are_per_job(self, store: JobStore) -> None:
        store.create(new_job("j1"))
        store.create(new_job("j2"))
        store.record_chunk("j1", make_chunk(0), Progress())
        store.record_chunk("j2", make_chunk(0, sha="e" * 64), Progress())
        assert [c.sha256 for c in store.chunks("j2")] == ["e" * 64]

    def test_save_progress(self, store: JobStore) -> None:
        store.create(new_job("j1"))
        progress = Progress(source_rows_done=5000, source_rows_total=10_000)
        store.save_progress("j1", progress)
        assert store.get("j1").progress == progress

    def test_saved_progress_never_counts_ahead_of_the_journal(self, store: JobStore) -> None:
        # Mid-chunk progress already counts the chunk being committed; only its
        # record_chunk may add its counters to the job (a failed commit adds none).
        first = (("EMAIL/message", 7),)
        lease = self._one_chunk_run(store, first)
        ahead = Progress(records=200, chunks=2, counters=(("EMAIL/message", 9),))
        store.save_progress("j1", ahead, lease=lease)
        saved = store.get("j1").progress
        assert saved.records == 200 and saved.chunks == 2
        assert saved.counters == first

    def test_final_progress_saves_the_counters_and_is_fenced(self, store: JobStore) -> None:
        # The rows skipped after the last chunk's rows are counted in no chunk: the
        # pipeline's final totals bring them to the job, under the run's lease.
        lease = self._one_chunk_run(store, (("source/skipped_rows", 6),))
        final = Progress(records=100, chunks=1, counters=(("source/skipped_rows", 7),))
        store.save_final_progress("j1", final, lease=lease)
        assert store.get("j1").progress == final
        # A real handover: the lease expires and another replica takes the job over.
        assert store.expire_leases() == 1
        taken = self._claim(store, "r2", 60)
        assert taken.token > lease.token
        with pytest.raises(LeaseLost):
            store.save_final_progress("j1", Progress(records=999), lease=lease)
        assert store.get("j1").progress == final
        again = Progress(records=100, chunks=1, counters=(("source/skipped_rows", 8),))
        store.save_final_progress("j1", again, lease=taken)
        assert store.get("j1").progress == again

    def test_unknown_job_is_not_found_for_chunks_and_progress(self, store: JobStore) -> None:
        with pytest.raises(NotFound):
            store.record_chunk("nope", make_chunk(0), Progress())
        with pytest.raises(NotFound):
            store.chunks("nope")
        with pytest.raises(NotFound):
            store.save_progress("nope", Progress())

    # -- restart -------------------------------------------------------------------

    def test_unfinished_lists_queued_and_running_oldest_first(self, store: JobStore) -> None:
        for n in range(5):
            store.create(new_job(f"j{n}"))
        store.transition("j1", {Q}, R)
        store.transition("j2", {Q}, S)
        store.transition("j3", {Q}, C)
        unfinished = store.unfinished()
        assert {j.id for j in unfinished} == {"j0", "j1", "j4"}
        assert all(j.state in UNFINISHED_STATES for j in unfinished)
        keys = [(j.created_at, j.id) for j in unfinished]
        assert keys == sorted(keys)

    def test_everything_survives_reopening(self, opener: Callable[[], JobStore]) -> None:
        if not self.reopenable:
            pytest.skip("this store keeps nothing after close")
        store = opener()
        store.create(new_job("j1", "req-1", make_spec(team="a")))
        store.transition("j1", {Q}, R)
        store.record_chunk("j1", make_chunk(0), Progress(records=100, chunks=1))
        before = store.get("j1")
        store.close()

        reopened = opener()
        assert reopened.get("j1") == before
        assert list(reopened.chunks("j1")) == [make_chunk(0)]
        assert [j.id for j in reopened.unfinished()] == ["j1"]
        assert reopened.create(new_job("j9", "req-1", make_spec(team="a")))[1] is False
        labelled = reopened.list(JobFilter(labels=(("team", "a"),)), page_size=5)
        assert [j.id for j in labelled.jobs] == ["j1"]

    # -- stage counters and resumable uploads (schema v2) ------------------------------

    def test_chunk_counters_round_trip(self, store: JobStore) -> None:
        store.create(new_job("job-c"))
        chunk = replace(make_chunk(0), counters=(("EMAIL/message", 7), ("drop/password", 100)))
        store.record_chunk("job-c", chunk, Progress(records=100, chunks=1))
        assert store.chunks("job-c")[0].counters == (("EMAIL/message", 7), ("drop/password", 100))

    def test_a_jobs_counters_are_kept_with_its_progress(self, store: JobStore) -> None:
        # GetExport shows a job's counters without reading its chunks: the journal
        # keeps the running sum on the job, as it does records and bytes.
        job, _ = store.create(new_job("job-k"))
        assert job.progress.counters == ()
        claimed = store.claim("replica-a", 30)
        assert claimed is not None
        lease = claimed[1]
        first = replace(make_chunk(0), counters=(("EMAIL/message", 7),))
        second = replace(make_chunk(1), counters=(("EMAIL/message", 2), ("drop/password", 4)))
        summed = (("EMAIL/message", 9), ("drop/password", 4))
        store.record_chunk(
            "job-k",
            first,
            Progress(records=100, chunks=1, counters=(("EMAIL/message", 7),)),
            lease=lease,
        )
        store.record_chunk(
            "job-k", second, Progress(records=200, chunks=2, counters=summed), lease=lease
        )
        assert store.get("job-k").progress.counters == summed
        store.save_progress("job-k", Progress(records=250, chunks=2, counters=summed), lease=lease)
        done = store.transition("job-k", {R}, S, lease=lease)
        assert done.progress.counters == summed
        assert store.list(JobFilter(), page_size=5).jobs[0].progress.counters == summed
        restored = replace(
            done, id="job-k2", request_id="", progress=replace(done.progress, counters=())
        )
        assert store.restore(restored, [first, second])
        assert store.get("job-k2").progress.counters == summed

    def test_a_job_journalled_before_counters_were_kept_reads_the_same_everywhere(
        self, store: JobStore
    ) -> None:
        # Rows from before the job's counters_json column (NULL there) sum their chunks'
        # counters: on every path that answers with the job, on both stores alike.
        store.create(new_job("job-old", "req-old"))
        lease = self._claim(store, "r1", 60)
        for n, count in enumerate((7, 2)):
            chunk = replace(make_chunk(n), counters=(("EMAIL/message", count),))
            store.record_chunk("job-old", chunk, Progress(records=100, chunks=n + 1), lease=lease)
        with store._tx() as db:  # type: ignore[attr-defined]
            db.execute("UPDATE jobs SET counters_json = NULL WHERE id = 'job-old'")
        summed = (("EMAIL/message", 9),)
        assert store.get("job-old").progress.counters == summed
        found = store.find_by_request_id("req-old", "")
        assert found is not None and found.progress.counters == summed
        assert store.release(lease, timedelta(0)).progress.counters == summed
        claimed = store.claim("r2", 60)
        assert claimed is not None and claimed[0].progress.counters == summed
        done = store.transition("job-old", {R}, S, manifest_uri="m", lease=claimed[1])
        assert done.progress.counters == summed

    def test_chunk_cursor_maximum_round_trips(self, store: JobStore) -> None:
        store.create(new_job("job-w"))
        store.record_chunk(
            "job-w", replace(make_chunk(0), cursor_max="2026-01-04T12:00:00+00:00"), Progress()
        )
        store.record_chunk("job-w", replace(make_chunk(1), cursor_max=42), Progress())
        store.record_chunk("job-w", make_chunk(2), Progress())
        assert [c.cursor_max for c in store.chunks("job-w")] == [
            "2026-01-04T12:00:00+00:00",
            42,
            None,
        ]

    def test_chunk_source_last_key_round_trips(self, store: JobStore) -> None:
        store.create(new_job("job-k"))
        key = ("2026-01-04T12:00:00", 7, "a'b")
        store.record_chunk("job-k", replace(make_chunk(0), source_last_key=key), Progress())
        store.record_chunk("job-k", make_chunk(1), Progress())
        assert [c.source_last_key for c in store.chunks("job-k")] == [key, None]

    def test_uploads_are_journalled_replaced_and_forgotten(self, store: JobStore) -> None:
        store.create(new_job("job-u"))
        assert store.uploads("job-u") == []
        store.save_upload("job-u", "ds/e/part-000001.jsonl.zst", '{"upload_id": "a", "parts": []}')
        store.save_upload("job-u", "ds/e/part-000000.jsonl.zst", '{"upload_id": "b", "parts": []}')
        store.save_upload("job-u", "ds/e/part-000001.jsonl.zst", '{"upload_id": "a", "parts": [1]}')
        assert store.uploads("job-u") == [
            ("ds/e/part-000000.jsonl.zst", '{"upload_id": "b", "parts": []}'),
            ("ds/e/part-000001.jsonl.zst", '{"upload_id": "a", "parts": [1]}'),
        ]
        store.delete_upload("job-u", "ds/e/part-000000.jsonl.zst")
        store.delete_upload("job-u", "never-there")
        assert [key for key, _ in store.uploads("job-u")] == ["ds/e/part-000001.jsonl.zst"]
        with pytest.raises(NotFound):
            store.save_upload("no-such-job", "k", "{}")

    def test_run_facts_are_journalled_and_replaced(self, store: JobStore) -> None:
        # What a resumed run compares with its first run (server/execution/run_facts.py).
        store.create(new_job("job-f"))
        assert store.run_facts("job-f") is None
        store.save_run_facts("job-f", '{"parent": "a"}')
        store.save_run_facts("job-f", '{"parent": "b"}')
        assert store.run_facts("job-f") == '{"parent": "b"}'
        with pytest.raises(NotFound):
            store.save_run_facts("no-such-job", "{}")
        with pytest.raises(NotFound):
            store.run_facts("no-such-job")

    def test_a_deleted_job_keeps_no_run_facts(self, store: JobStore) -> None:
        # They hold the source's file paths, and a deleted export is never resumed.
        store.create(new_job("job-f", spec=personal_spec()))
        store.save_run_facts("job-f", '{"files": [["/in/lea.label.csv", 1, 2]]}')
        store.mark_deleted("job-f", {Q})
        assert store.run_facts("job-f") is None
        # Left by a Sluice that deleted without forgetting them: forget_deleted does.
        store.save_run_facts("job-f", '{"files": [["/in/lea.label.csv", 1, 2]]}')
        assert store.forget_deleted() == 1
        assert store.run_facts("job-f") is None
        assert store.forget_deleted() == 0

    def test_restore_inserts_a_finished_job_as_given(self, store: JobStore) -> None:
        created = datetime(2025, 3, 1, 11, 0, 0, 5, tzinfo=UTC)
        finished = datetime(2025, 3, 1, 12, 0, 0, 7, tzinfo=UTC)
        job = Job(
            id="job-r",
            spec=make_spec(team="b"),
            state=S,
            created_at=created,
            updated_at=finished,
            finished_at=finished,
            progress=Progress(records=200, chunks=2, stored_bytes=2001),
            manifest_uri="file:///exports/users/job-r/manifest.json",
        )
        assert store.restore(job, [make_chunk(0), make_chunk(1)]) is True
        back = store.get("job-r")
        assert (back.state, back.created_at, back.finished_at) == (S, created, finished)
        assert back.started_at is None and back.request_id == ""
        assert back.progress == job.progress and back.manifest_uri == job.manifest_uri
        assert back.labels == {"team": "b"}
        assert store.chunks("job-r") == [make_chunk(0), make_chunk(1)]
        assert [j.id for j in store.list(JobFilter(labels=(("team", "b"),)), page_size=5).jobs] == [
            "job-r"
        ]
        assert "job-r" not in [j.id for j in store.unfinished()]

    def test_restore_leaves_a_known_job_alone(self, store: JobStore) -> None:
        existing, _ = store.create(new_job("job-k"))
        copy = replace(existing, state=S, manifest_uri="file:///elsewhere/manifest.json")
        assert store.restore(copy, [make_chunk(0)]) is False
        assert store.get("job-k") == existing
        assert store.chunks("job-k") == []

    # -- notifications -------------------------------------------------------------

    def test_create_makes_one_pending_delivery_per_notify_target(self, store: JobStore) -> None:
        spec = replace(make_spec(), notify=("ops", "https://hooks.example/x"))
        store.create(new_job("job-n", spec=spec))
        _, created = store.create(new_job("job-n2", spec=make_spec()))
        assert created and store.notifications("job-n2") == []
        deliveries = store.notifications("job-n")
        assert [(d.index, d.target, d.state, d.attempts) for d in deliveries] == [
            (0, "ops", DeliveryState.PENDING, 0),
            (1, "https://hooks.example/x", DeliveryState.PENDING, 0),
        ]
        assert len({d.delivery_id for d in deliveries}) == 2
        with pytest.raises(NotFound):
            store.notifications("missing")

    def test_deliveries_are_due_only_once_their_export_ended(self, store: JobStore) -> None:
        now = datetime.now(UTC)
        for job_id in ("job-a", "job-b"):
            store.create(new_job(job_id, spec=replace(make_spec(), notify=("ops",))))
        store.transition("job-a", {Q}, R)
        assert store.due_notifications(now, 10) == []
        store.transition("job-a", {R}, F, error=JobError("INTERNAL", "boom"))
        store.transition("job-b", {Q}, C)
        assert [d.job_id for d in store.due_notifications(now, 10)] == ["job-a", "job-b"]
        assert len(store.due_notifications(now, 1)) == 1

    def test_attempts_are_counted_and_schedule_the_next(self, store: JobStore) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        store.create(new_job("job-r", spec=replace(make_spec(), notify=("ops",))))
        store.transition("job-r", {Q}, C)
        later = now + timedelta(seconds=30)
        assert store.record_notification_attempt(
            "job-r.0",
            state=DeliveryState.PENDING,
            error="HTTP 500",
            attempted_at=now,
            next_attempt_at=later,
        )
        assert store.due_notifications(now, 10) == []
        (due,) = store.due_notifications(later, 10)
        assert (due.attempts, due.last_error) == (1, "HTTP 500")
        # PostgreSQL moves the retry time onto the database's clock (as far from its now()
        # as from this host's): the same host's clock here, so within a second.
        assert due.next_attempt_at is not None
        assert abs(due.next_attempt_at - later) < timedelta(seconds=1)
        assert_utc(due.last_attempt_at)
        assert store.record_notification_attempt(
            "job-r.0",
            state=DeliveryState.DELIVERED,
            error="",
            attempted_at=later,
            next_attempt_at=None,
        )
        assert store.due_notifications(later + timedelta(days=1), 10) == []
        (done,) = store.notifications("job-r")
        assert (done.state, done.attempts, done.last_attempt_at) == (
            DeliveryState.DELIVERED,
            2,
            later,
        )
        assert not store.record_notification_attempt(
            "job-r.5",
            state=DeliveryState.FAILED,
            error="",
            attempted_at=later,
            next_attempt_at=None,
        )

    def test_a_deliverys_lateness_is_kept_across_attempts_until_a_rearm(
        self, store: JobStore
    ) -> None:
        # Its retry window grows by the time its attempts waited past their due times: a
        # later attempt (a new claim, maybe another replica) must know the earlier ones'.
        now = datetime.now(UTC)
        store.create(new_job("job-l", spec=replace(make_spec(), notify=("ops",))))
        store.transition("job-l", {Q}, C)
        for late in (2.5, None, 7.25):
            assert store.record_notification_attempt(
                "job-l.0",
                state=DeliveryState.PENDING,
                error="HTTP 500",
                attempted_at=now,
                next_attempt_at=now,
                late_seconds=late,
            )
            (delivery,) = store.notifications("job-l")
            assert delivery.late_seconds == (2.5 if late is None else late)
        (due,) = store.claim_notifications(timedelta(minutes=1), 10)
        assert (due.attempts, due.late_seconds) == (3, 7.25)
        store.rearm_notifications("job-l")
        assert [d.late_seconds for d in store.notifications("job-l")] == [0.0]

    def test_claimed_deliveries_wait_for_their_claim_to_expire(self, store: JobStore) -> None:
        for job_id in ("job-c", "job-d"):
            store.create(new_job(job_id, spec=replace(make_spec(), notify=("ops",))))
            store.transition(job_id, {Q}, C)
        first = store.claim_notifications(timedelta(minutes=5), 1)
        assert [d.delivery_id for d in first] == ["job-c.0"]
        second = store.claim_notifications(timedelta(minutes=5), 10)
        assert [d.delivery_id for d in second] == ["job-d.0"]
        assert store.claim_notifications(timedelta(minutes=5), 10) == []
        store.create(new_job("job-e", spec=replace(make_spec(), notify=("ops",))))
        store.transition("job-e", {Q}, C)
        # A claim that ends at once (its claimer died, nobody recorded an attempt): the
        # delivery is due again, as the ones still held are not.
        assert [d.delivery_id for d in store.claim_notifications(timedelta(0), 10)] == ["job-e.0"]
        again = store.claim_notifications(timedelta(minutes=5), 10)
        assert [(d.delivery_id, d.attempts) for d in again] == [("job-e.0", 0)]

    def test_rearmed_deliveries_start_over_under_new_ids(self, store: JobStore) -> None:
        now = datetime.now(UTC)
        store.create(new_job("job-x", spec=replace(make_spec(), notify=("ops", "team"))))
        store.transition("job-x", {Q}, C)
        store.record_notification_attempt(
            "job-x.0",
            state=DeliveryState.DELIVERED,
            error="",
            attempted_at=now,
            next_attempt_at=None,
        )
        # A resume re-arms them in its own transaction.
        store.transition("job-x", {C}, Q)
        rearmed = store.notifications("job-x")
        assert [(d.delivery_id, d.state, d.attempts, d.last_attempt_at) for d in rearmed] == [
            ("job-x.0.1", DeliveryState.PENDING, 0, None),
            ("job-x.1.1", DeliveryState.PENDING, 0, None),
        ]
        # An attempt of the old round that finishes late changes nothing.
        assert not store.record_notification_attempt(
            "job-x.1",
            state=DeliveryState.DELIVERED,
            error="",
            attempted_at=now,
            next_attempt_at=None,
        )
        assert store.due_notifications(now, 10) == []  # queued again: not ended
        store.rearm_notifications("job-x")
        assert [d.delivery_id for d in store.notifications("job-x")] == ["job-x.0.2", "job-x.1.2"]
        with pytest.raises(NotFound):
            store.rearm_notifications("missing")

    # -- leases: claim, renew, release, fencing ----------------------------------------

    def test_claim_takes_the_oldest_queued_job_under_a_new_lease(self, store: JobStore) -> None:
        assert store.claim("replica-a", 30) is None
        for n in range(3):
            store.create(new_job(f"j{n}"))
        store.transition("j0", {Q}, C)
        claimed = store.claim("replica-a", 30)
        assert claimed is not None
        job, lease = claimed
        assert lease == Lease("j1", "replica-a", 1)
        assert (job.id, job.state, job.replica) == ("j1", R, "replica-a")
        assert job.started_at is not None and not job.cancel_requested
        assert store.get("j1").replica == "replica-a"
        second = store.claim("replica-b", 30)
        assert second is not None and second[1] == Lease("j2", "replica-b", 1)
        # A running job under a live lease is nobody else's to take.
        assert store.claim("replica-c", 30) is None

    def test_an_expired_lease_is_taken_over_with_a_larger_token(self, store: JobStore) -> None:
        store.create(new_job("j1"))
        first = store.claim("replica-a", 3600)
        assert first is not None
        assert store.claim("replica-b", 30) is None
        assert store.expire_leases() == 1  # as if its hour had passed
        second = store.claim("replica-b", 30)
        assert second is not None
        job, lease = second
        assert lease == Lease("j1", "replica-b", first[1].token + 1)
        assert (job.state, job.replica) == (R, "replica-b")
        assert job.started_at == first[0].started_at  # the first start is kept

    def test_a_lost_lease_can_write_nothing(self, store: JobStore) -> None:
        store.create(new_job("j1"))
        old = self._claim(store, "replica-a", 3600)
        store.record_chunk("j1", make_chunk(0), Progress(records=100, chunks=1), lease=old)
        store.save_upload("j1", "k1", '{"parts": [1]}', lease=old)
        assert store.expire_leases() == 1  # as if its hour had passed
        new = self._claim(store, "replica-b", 30)
        before = (store.get("j1"), list(store.chunks("j1")), list(store.uploads("j1")))
        facts_before = store.run_facts("j1")
        attempts: list[Callable[[], object]] = [
            lambda: store.record_chunk("j1", make_chunk(1), Progress(chunks=2), lease=old),
            lambda: store.save_progress("j1", Progress(records=999), lease=old),
            lambda: store.save_final_progress("j1", Progress(records=999), lease=old),
            lambda: store.save_upload("j1", "k1", '{"parts": [1, 2]}', lease=old),
            lambda: store.save_upload("j1", "k2", "{}", lease=old),
            lambda: store.delete_upload("j1", "k1", lease=old),
            lambda: store.save_run_facts("j1", '{"parent": "x"}', lease=old),
            lambda: store.transition("j1", {R}, S, manifest_uri="file:///m", lease=old),
            lambda: store.transition("j1", {R}, F, error=JobError("INTERNAL", "x"), lease=old),
            lambda: store.renew(old, 30),
            lambda: store.release(old, timedelta(0)),
        ]
        for attempt in attempts:
            with pytest.raises(LeaseLost, match="replica-b"):
                attempt()
        assert (store.get("j1"), list(store.chunks("j1")), list(store.uploads("j1"))) == before
        assert store.run_facts("j1") == facts_before
        # The new holder writes on: the journal continues after the last chunk.
        store.record_chunk("j1", make_chunk(1), Progress(records=200, chunks=2), lease=new)
        store.delete_upload("j1", "k1", lease=new)
        assert store.renew(new, 30) is False
        done = store.transition("j1", {R}, S, manifest_uri="file:///m", lease=new)
        assert (done.state, done.replica, done.progress.chunks) == (S, "", 2)
        # A finished job's lease is over too.
        with pytest.raises(LeaseLost):
            store.renew(new, 30)
        assert store.claim("replica-c", 30) is None

    def test_release_hands_a_job_back_at_once(self, store: JobStore) -> None:
        store.create(new_job("j1"))
        lease = self._claim(store, "replica-a", 30)
        store.save_upload("j1", "k1", '{"parts": [1]}', lease=lease)
        # The resume window holds back only a DoPut export (pinned); this one is at once.
        released = store.release(lease, timedelta(hours=1))
        assert (released.state, released.replica) == (Q, "")
        assert store.uploads("j1") == [("k1", '{"parts": [1]}')]  # the upload stays open
        again = self._claim(store, "replica-b", 30)
        assert again.token == lease.token + 1
        with pytest.raises(LeaseLost):
            store.save_progress("j1", Progress(), lease=lease)

    def test_the_revision_grows_with_every_write_of_the_job(self, store: JobStore) -> None:
        # What WatchExport orders a job's reads by (Job.revision): each write a job
        # shows raises it, in its transaction; a lease renewal shows nothing and keeps it.
        created, _ = store.create(new_job("j1"))
        store.create(new_job("j2"))
        revisions = [created.revision, store.get("j1").revision]
        assert revisions == [0, 0]
        claimed = store.claim("replica-a", 30)
        assert claimed is not None
        job, lease = claimed
        revisions.append(job.revision)
        store.save_progress("j1", Progress(records=5), lease=lease)
        revisions.append(store.get("j1").revision)
        store.record_chunk("j1", make_chunk(0), Progress(records=100, chunks=1), lease=lease)
        revisions.append(store.get("j1").revision)
        assert store.renew(lease, 30) is False
        revisions.append(store.get("j1").revision)
        revisions.append(store.request_cancel("j1").revision)
        revisions.append(store.transition("j1", {R}, C, lease=lease).revision)
        assert revisions == [0, 0, 1, 2, 3, 3, 4, 5]
        assert store.get("j2").revision == 0  # another job's row is its own

    def test_a_cancel_request_reaches_the_lease_holder(self, store: JobStore) -> None:
        store.create(new_job("j1"))
        store.create(new_job("j2"))
        # Only a running job takes a cancel request; a queued one is cancelled directly.
        assert store.request_cancel("j2").cancel_requested is False
        lease = self._claim(store, "replica-a", 30)
        assert store.renew(lease, 30) is False
        assert store.request_cancel("j1").cancel_requested is True
        assert store.renew(lease, 30) is True
        cancelled = store.transition("j1", {R}, C, lease=lease)
        assert (cancelled.state, cancelled.cancel_requested, cancelled.replica) == (C, False, "")
        with pytest.raises(NotFound):
            store.request_cancel("nope")

    def test_a_pinned_job_runs_only_on_its_replica_while_queued_or_held(
        self, store: JobStore
    ) -> None:
        """A DoPut's export runs where its records arrive: queued, only its replica
        claims it; pin moves it, except from a replica still holding it. Handed back
        (a shutdown), it is any replica's: its replica may never return by that name."""
        store.create(replace(new_job("j1"), runs_on="replica-a"))
        assert store.claim("replica-b", 30) is None
        lease = self._claim(store, "replica-a", 30)
        with pytest.raises(FailedPrecondition, match="replica-a"):
            store.pin("j1", "replica-b")
        assert store.release(lease, timedelta(0)).state == Q
        store.release(self._claim(store, "replica-c", 30), timedelta(0))
        assert store.pin("j1", "replica-b").state == Q  # a put resumed there pins it again
        assert store.claim("replica-a", 30) is None
        moved = self._claim(store, "replica-b", 3600)
        # Its holder died (the lease ran out): anyone may take it over rather than leave
        # it running for good.
        assert store.expire_leases() == 1
        taken = self._claim(store, "replica-c", 30)
        assert taken.token == moved.token + 1
        with pytest.raises(NotFound):
            store.pin("missing", "replica-a")

    def test_unpin_queued_makes_a_stopping_replicas_queued_puts_any_replicas(
        self, store: JobStore
    ) -> None:
        """A replica that shuts down may never come back by its name: the queued jobs
        only it could claim become any replica's; its running and other jobs keep theirs."""
        store.create(replace(new_job("j1"), runs_on="replica-a"))
        store.create(replace(new_job("j2"), runs_on="replica-a"))
        store.create(replace(new_job("j3"), runs_on="replica-b"))
        running = self._claim(store, "replica-a", 30)
        assert store.unpin_queued("replica-a", timedelta(0)) == ["j2"]
        assert store.unpin_queued("replica-a", timedelta(0)) == []
        claimed = self._claim(store, "replica-c", 30)
        assert claimed.job_id == "j2"
        assert store.claim("replica-c", 30) is None  # j3 is still replica-b's
        with pytest.raises(FailedPrecondition, match="replica-a"):
            store.pin(running.job_id, "replica-c")  # j1 runs there under a live lease

    @pytest.mark.parametrize("how", ["release", "unpin_queued"])
    def test_an_unpinned_put_waits_its_resume_window_unless_a_put_pins_it(
        self, store: JobStore, how: str
    ) -> None:
        """A put handed back (release) or queued on a stopping replica (unpin_queued):
        the client's retry lands on any replica, which pins it; another replica
        claiming it first would refuse that put. So none claims it within the window,
        a pin ends the window at once, and after it any replica claims it."""
        store.create(replace(new_job("j1"), runs_on="replica-a"))

        def unpin(window: timedelta) -> None:
            if how == "release":
                store.release(self._claim(store, "replica-a", 30), window)
            else:
                store.unpin_queued("replica-a", window)

        unpin(timedelta(hours=1))
        assert store.claim("replica-b", 30) is None
        assert store.claim("replica-c", 30) is None
        assert store.pin("j1", "replica-c").state == Q  # the retried put lands on c
        assert store.claim("replica-b", 30) is None
        assert self._claim(store, "replica-c", 30).job_id == "j1"
        store.create(replace(new_job("j2"), runs_on="replica-a"))
        # A window already over (no sleep: a sub-second window could end before the
        # "not yet" claim on a loaded machine).
        unpin(timedelta(seconds=-1))
        assert self._claim(store, "replica-b", 30).job_id == "j2"

    def test_expire_leases_makes_running_jobs_claimable_now(self, store: JobStore) -> None:
        store.create(new_job("j1"))
        lease = self._claim(store, "replica-a", 3600)
        assert store.claim("replica-b", 30) is None
        assert store.expire_leases() == 1
        taken = self._claim(store, "replica-b", 30)
        assert taken.token == lease.token + 1

    def test_concurrent_claims_take_each_job_once(self, opener: Callable[[], JobStore]) -> None:
        stores = [opener() for _ in range(3 if self.reopenable else 1)]
        for n in range(30):
            stores[0].create(new_job(f"j{n:02d}"))
        taken: list[Lease] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(6)

        def worker(n: int) -> None:
            store = stores[n % len(stores)]
            barrier.wait()
            try:
                while (claimed := store.claim(f"replica-{n}", 30)) is not None:
                    taken.append(claimed[1])
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert sorted(lease.job_id for lease in taken) == [f"j{n:02d}" for n in range(30)]
        assert all(lease.token == 1 for lease in taken)
        for lease in taken:
            assert stores[0].get(lease.job_id).replica == lease.owner

    def test_claims_pass_over_a_creator_at_its_running_limit(self, store: JobStore) -> None:
        for job_id, creator in (("j0", "bob"), ("j1", "bob"), ("j2", "alice"), ("j3", "")):
            store.create(replace(new_job(job_id), created_by=creator))
        taken = [self._claim(store, "replica-a", 30, 1).job_id for _ in range(3)]
        # bob's second waits while his first runs; the server's own are not limited.
        assert taken == ["j0", "j2", "j3"]
        assert store.claim("replica-a", 30, 1) is None
        assert store.claim("replica-a", 30) is not None  # no limit: taken at once

    def test_concurrent_claims_hold_a_creators_limit_together(
        self, opener: Callable[[], JobStore]
    ) -> None:
        stores = [opener() for _ in range(3 if self.reopenable else 1)]
        for n in range(20):
            stores[0].create(replace(new_job(f"j{n:02d}"), created_by="bob"))
        taken: list[Lease] = []
        barrier = threading.Barrier(6)

        def worker(n: int) -> None:
            store = stores[n % len(stores)]
            barrier.wait()
            while (claimed := store.claim(f"replica-{n}", 30, 2)) is not None:
                taken.append(claimed[1])

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(lease.job_id for lease in taken) == ["j00", "j01"]

    def _one_chunk_run(self, store: JobStore, counters: tuple[tuple[str, int], ...]) -> Lease:
        """Job j1 claimed by r1, its first chunk of 100 records journalled with `counters`."""
        store.create(new_job("j1"))
        lease = self._claim(store, "r1", 60)
        chunk = replace(make_chunk(0), counters=counters)
        progress = Progress(records=100, chunks=1, counters=counters)
        store.record_chunk("j1", chunk, progress, lease=lease)
        return lease

    @staticmethod
    def _claim(store: JobStore, owner: str, seconds: float, per_creator: int = 0) -> Lease:
        claimed = store.claim(owner, seconds, per_creator)
        assert claimed is not None
        return claimed[1]


class TestSQLiteFileJobStore(JobStoreContract):
    reopenable = True

    def open_store(self, tmp_path: Path) -> JobStore:
        return SQLiteJobStore(tmp_path / "state" / "jobs.sqlite3")

    def test_two_stores_on_one_file_race_to_one_job(self, opener: Callable[[], JobStore]) -> None:
        # Separate connections share only the file, so this exercises the UNIQUE
        # constraint and busy_timeout rather than the in-process lock.
        stores = [opener() for _ in range(4)]
        self._race_creates(stores * 2)
        assert len(stores[0].list(JobFilter(), page_size=100).jobs) == 1

    def test_schema_version_and_pragmas(self, tmp_path: Path) -> None:
        import sqlite3

        path = tmp_path / "state" / "jobs.sqlite3"
        SQLiteJobStore(path).close()
        SQLiteJobStore(path).close()  # a second open migrates nothing
        db = sqlite3.connect(path)
        try:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            db.close()

    def test_a_limited_claim_finds_creators_at_their_limit_through_running_jobs(
        self, store: JobStore, tmp_path: Path
    ) -> None:
        # Counting each claimable row's creator's jobs (jobs_by_creator) walked bob's whole
        # history once per queued job, under the store's only lock: minutes per claim.
        import sqlite3

        from sluice.server.jobs.sqlite import _timestamp, claim_query

        store.create(replace(new_job("tpl"), created_by="bob"))
        store.close()
        now = datetime.now(UTC)
        live = _timestamp(now + timedelta(hours=1))
        db = sqlite3.connect(tmp_path / "state" / "jobs.sqlite3")
        columns = [row[1] for row in db.execute("PRAGMA table_info(jobs)")]
        for prefix, count, state, creator, lease, start in (
            ("done", 3000, "succeeded", "bob", None, 0),
            ("run", 1, "running", "bob", live, 3000),
            ("wait", 300, "queued", "bob", None, 4000),
            ("zalice", 1, "queued", "alice", None, 5000),
        ):
            copied = {
                "id": f"'{prefix}' || printf('%06d', n)",
                "request_id": "NULL",
                "state": f"'{state}'",
                "created_by": f"'{creator}'",
                "lease_expires_at": f"'{lease}'" if lease else "NULL",
                "created_at": "strftime('%Y-%m-%dT%H:%M:%f', '2026-01-01',"
                f" '+' || (n + {start}) || ' seconds') || '000+00:00'",
            }
            db.execute(
                "WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL"
                f" SELECT n + 1 FROM s WHERE n < {count - 1})"
                f" INSERT INTO jobs ({', '.join(columns)})"
                f" SELECT {', '.join(copied.get(c, c) for c in columns)}"
                " FROM s, (SELECT * FROM jobs WHERE id = 'tpl')"
            )
        db.execute("DELETE FROM jobs WHERE id = 'tpl'")
        db.commit()
        try:
            query, values = claim_query("replica-a", now, 1)
            plan = " | ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {query}", values))
            assert "jobs_by_creator" not in plan and "CORRELATED" not in plan, plan
            assert "jobs_by_state" in plan, plan
        finally:
            db.close()
        reopened = SQLiteJobStore(tmp_path / "state" / "jobs.sqlite3")
        try:
            taken = [self._claim(reopened, "replica-a", 30, 2).job_id for _ in range(2)]
            assert taken == ["wait000000", "zalice000000"]  # bob's second, then alice's
            assert reopened.claim("replica-a", 30, 2) is None  # bob at two
        finally:
            reopened.close()

    def test_the_newest_succeeded_of_a_dataset_are_read_by_index(self, tmp_path: Path) -> None:
        # Before each increment (chain_tip): the creator's exports of the dataset are
        # found through jobs_by_creator_dataset, not by parsing the spec of every export
        # the creator ever made.
        import sqlite3

        path = tmp_path / "state" / "jobs.sqlite3"
        SQLiteJobStore(path).close()
        db = sqlite3.connect(path)
        try:
            plan = db.execute(
                f"EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE state = ? AND created_by = ?"
                f" AND {SQLITE_SPEC_DATASET} = ? AND (finished_at, id) < (?, ?)"
                " ORDER BY finished_at DESC, id DESC LIMIT 100",
                ("succeeded", "alice", "users", "9", "z"),
            ).fetchall()
        finally:
            db.close()
        details = " ".join(str(row[-1]) for row in plan)
        assert "USING INDEX jobs_by_creator_dataset" in details, details
        assert "TEMP B-TREE" not in details, details

    def test_a_deleted_jobs_values_leave_the_files(self, store: JobStore, tmp_path: Path) -> None:
        # Not only the rows: SQLite keeps freed bytes in its pages and old page versions
        # in its WAL; the job row is rewritten (spec and all) with every chunk.
        import sqlite3

        store.create(new_job("j1", "req-1", personal_spec()))
        store.transition("j1", {Q}, R)
        folder = tmp_path / "state"
        for index in range(200):
            # Counters of changing sizes move the job row within its page.
            progress = Progress(records=37 ** (index % 9), chunks=index + 1)
            store.record_chunk("j1", personal_chunk(index), progress)
            if index % 50 == 25:  # pages reach the database file, not only the WAL
                other = sqlite3.connect(folder / "jobs.sqlite3")
                other.execute("PRAGMA wal_checkpoint(PASSIVE)")
                other.close()
        store.transition("j1", {R}, S, manifest_uri="file:///exports/users/j1/m.json")
        pattern = json.dumps(PATTERN)[1:-1]  # as the stored spec (JSON) holds it
        secrets = [EMAIL, NAME, *IDS, pattern, TOKEN, *(str(CARD + i) for i in range(200))]
        before = b"".join(p.read_bytes() for p in folder.iterdir())
        assert all(s.encode() in before for s in (EMAIL, NAME, *IDS, pattern, TOKEN))
        store.mark_deleted("j1", {S})
        for path in folder.iterdir():
            found = [s for s in secrets if s.encode() in path.read_bytes()]
            assert found == [], path.name

    def test_writes_after_a_delete_still_wait_for_the_file(self, tmp_path: Path) -> None:
        # The WAL is emptied with busy_timeout 0 (never waiting); the store's own timeout
        # must be back for every write after it, or a write meeting another connection's
        # (a replica's, a backup's) lock fails at once with "database is locked".
        import sqlite3

        path = tmp_path / "state" / "jobs.sqlite3"
        store = SQLiteJobStore(path, busy_timeout_ms=600_000)
        writer = sqlite3.connect(path, isolation_level=None)
        try:
            store.create(new_job("j1", "j1", personal_spec()))
            store.mark_deleted("j1", {Q})
            store.erase_forgotten()
            writer.execute("BEGIN IMMEDIATE")
            outcome: list[BaseException | None] = []

            def create() -> None:
                try:
                    store.create(new_job("j2", "j2", personal_spec()))
                    outcome.append(None)
                except BaseException as exc:  # reported below
                    outcome.append(exc)

            thread = threading.Thread(target=create, daemon=True)
            thread.start()
            thread.join(0.5)  # the create meets the outside write lock meanwhile
            writer.execute("COMMIT")
            thread.join(60)
            assert outcome == [None]
            assert store.get("j2").state == Q
        finally:
            writer.close()
            store.close()

    def test_a_delete_never_waits_on_another_process_reading_the_file(self, tmp_path: Path) -> None:
        # A backup tool (litestream) or an operator's sqlite3 shell holding a read
        # transaction keeps a WAL from being emptied; mark_deleted's emptying is best
        # effort and must not wait for it (busy_timeout) with the store locked, stalling
        # every RPC and chunk journalled meanwhile. The long busy_timeout makes a wait a
        # hang; the generous waits below fail only on one.
        import sqlite3

        path = tmp_path / "state" / "jobs.sqlite3"
        store = SQLiteJobStore(path, busy_timeout_ms=600_000)
        reader = sqlite3.connect(path, isolation_level=None)
        threads: list[threading.Thread] = []
        try:
            for job_id in ("j1", "j2", "j3"):
                store.create(new_job(job_id, job_id, personal_spec()))
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM jobs").fetchall()
            store.create(new_job("j4", "j4", personal_spec()))  # frames after its snapshot
            done = {"deleted": threading.Event(), "read": threading.Event()}

            def delete() -> None:
                store.mark_deleted("j1", {Q})
                done["deleted"].set()

            def read() -> None:
                store.get("j2")
                done["read"].set()

            threads += [threading.Thread(target=f, daemon=True) for f in (delete, read)]
            for thread in threads:
                thread.start()
            assert done["deleted"].wait(60), "mark_deleted waited on the outside reader"
            assert done["read"].wait(60), "a read waited on mark_deleted"
            # As retention and forget_deleted do: several marks, the WAL emptied once.
            store.mark_deleted("j2", {Q}, batch=True)
            store.mark_deleted("j3", {Q}, batch=True)
            erased = threading.Thread(target=store.erase_forgotten, daemon=True)
            erased.start()
            erased.join(60)
            assert not erased.is_alive(), "erase_forgotten waited on the outside reader"
            assert store.get("j3").state == JobState.DELETED
        finally:
            reader.close()
            for thread in threads:
                thread.join(60)
            store.close()
        # Once the reader is gone the next emptying succeeds.
        reopened = SQLiteJobStore(path)
        try:
            reopened.mark_deleted("j4", {Q})
            wal = path.with_name("jobs.sqlite3-wal")
            assert not wal.exists() or EMAIL.encode() not in wal.read_bytes()
        finally:
            reopened.close()

    def test_a_batch_of_deletes_leaves_the_files_once_erased(
        self, store: JobStore, tmp_path: Path
    ) -> None:
        # Retention marks each export it removes with batch=True and erases once.
        folder = tmp_path / "state"
        for job_id in ("j1", "j2"):
            store.create(new_job(job_id, job_id, personal_spec()))
        for job_id in ("j1", "j2"):
            store.mark_deleted(job_id, {Q}, batch=True)
        store.erase_forgotten()
        for path in folder.iterdir():
            found = [s for s in (EMAIL, NAME, *IDS, TOKEN) if s.encode() in path.read_bytes()]
            assert found == [], path.name

    def test_newer_schema_is_refused(self, tmp_path: Path) -> None:
        import sqlite3

        path = tmp_path / "jobs.sqlite3"
        SQLiteJobStore(path).close()
        db = sqlite3.connect(path)
        db.execute("PRAGMA user_version = 99")
        db.close()
        with pytest.raises(FailedPrecondition, match="schema version 99"):
            SQLiteJobStore(path)

    def test_a_file_that_is_not_a_database_is_named_in_one_line(self, tmp_path: Path) -> None:
        path = tmp_path / "jobs.sqlite3"
        path.write_bytes(b"these bytes are no SQLite database\n" * 200)
        with pytest.raises(FailedPrecondition) as caught:
            SQLiteJobStore(path)
        message = caught.value.message
        assert str(path) in message and "--recover-job-store" in message
        assert "\n" not in message


def test_a_job_journalled_before_counters_were_kept_sums_its_chunks(tmp_path: Path) -> None:
    # Rows from before the counters_json column (NULL there) read their chunks' sum.
    store = SQLiteJobStore(tmp_path / "jobs.sqlite3")
    try:
        store.create(new_job("job-old"))
        chunks = [
            replace(make_chunk(0), counters=(("EMAIL/message", 7),)),
            replace(make_chunk(1), counters=(("EMAIL/message", 2),)),
        ]
        for n, chunk in enumerate(chunks, 1):
            store.record_chunk("job-old", chunk, Progress(records=100 * n, chunks=n))
        with store._tx() as db:
            db.execute("UPDATE jobs SET counters_json = NULL WHERE id = 'job-old'")
        assert store.get("job-old").progress.counters == (("EMAIL/message", 9),)
    finally:
        store.close()


class TestSQLiteMemoryJobStore(JobStoreContract):
    def open_store(self, tmp_path: Path) -> JobStore:
        return SQLiteJobStore(":memory:")


class TestPostgresJobStore(JobStoreContract):
    """The same contract on a real PostgreSQL (tests/servers/postgres.py), one fresh
    database per test."""

    reopenable = True

    @pytest.fixture(autouse=True)
    def _database(self, postgres_server: PostgresServer) -> None:
        self.url = postgres_server.new_database()

    def open_store(self, tmp_path: Path) -> JobStore:
        return PostgresJobStore(self.url)

    def test_a_limited_claim_gives_up_a_held_claim_lock_and_dates_its_lease_after_it(
        self, store: JobStore
    ) -> None:
        # The claim lock was waited for without end (a stuck replica stopped every
        # claim), and the lease dated from the transaction's start, before that wait.
        from sluice.server.jobs.postgres import _CLAIM_LOCK

        store.create(replace(new_job("j1"), created_by="bob"))
        answers: list[object] = []

        def claim() -> None:
            answers.append(store.claim("replica-a", 30, 1))

        with psycopg.connect(self.url, autocommit=True) as holder:
            with holder.transaction():
                holder.execute("SELECT pg_advisory_xact_lock(%s)", (_CLAIM_LOCK,))
                waiting = threading.Thread(target=claim, daemon=True)
                waiting.start()
                waiting.join(120)
            assert answers == [None]  # not claimed while the lock was held
            waiting.join(120)
            with holder.transaction():
                holder.execute("SELECT pg_advisory_xact_lock(%s)", (_CLAIM_LOCK,))
                waiting = threading.Thread(target=claim, daemon=True)
                waiting.start()
                deadline = time.monotonic() + 120
                while (
                    time.monotonic() < deadline
                    and not holder.execute(
                        "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    ).fetchone()
                ):
                    time.sleep(0.05)
                row = holder.execute("SELECT clock_timestamp()").fetchone()
                assert row is not None
                released = row[0]
            waiting.join(120)
        claimed = answers[-1]
        assert isinstance(claimed, tuple)
        job = claimed[0]
        assert job.id == "j1" and job.started_at is not None
        assert job.started_at >= released, (job.started_at, released)

    def test_two_stores_on_one_database_race_to_one_job(
        self, opener: Callable[[], JobStore]
    ) -> None:
        # Separate pools share only the database: the UNIQUE constraint decides.
        stores = [opener() for _ in range(4)]
        self._race_creates(stores * 2)
        assert len(stores[0].list(JobFilter(), page_size=100).jobs) == 1

    def test_two_stores_on_one_database_create_one_increment_of_a_chain(
        self, opener: Callable[[], JobStore]
    ) -> None:
        # Two replicas' pools share only the database: its create lock decides.
        stores = [opener() for _ in range(4)]
        created, refused = self._race_increments(stores * 2)
        assert len(created) == 1 and len(refused) == 7
        assert [j.id for j in stores[0].unfinished()] == created

    def test_other_stores_hear_work_queued_and_progress_journalled(
        self, opener: Callable[[], JobStore]
    ) -> None:
        # LISTEN/NOTIFY: a replica hears at once what another one changed, and only what
        # committed.
        here, there = opener(), opener()
        heard = _Heard(here)
        hear = heard.hear
        there.create(new_job("j1"))
        hear(JobSignal(SignalKind.QUEUED, "j1"))
        claimed = there.claim("r2", 60)
        assert claimed is not None
        hear(JobSignal(SignalKind.CHANGED, "j1"))
        heard.clear()
        there.record_chunk("j1", make_chunk(0), Progress(records=100, chunks=1), lease=claimed[1])
        hear(JobSignal(SignalKind.CHANGED, "j1"))
        there.release(claimed[1], timedelta(0))
        hear(JobSignal(SignalKind.QUEUED, "j1"))
        with pytest.raises(LeaseLost):
            there.save_progress("j1", Progress(records=5), lease=claimed[1])
        heard.clear()
        there.transition("j1", {Q}, C)
        hear(JobSignal(SignalKind.CHANGED, "j1"))

    def test_pinning_a_queued_job_signals_it_again(self, opener: Callable[[], JobStore]) -> None:
        # A claim passes over rows locked by others (SKIP LOCKED): one that ran while
        # pin() held the row of a just-created DoPut export found nothing, and the
        # pinned replica then waited a whole job_store_poll_seconds to start it.
        here, there = opener(), opener()
        heard = _Heard(here)
        there.create(new_job("j1"))
        heard.hear(JobSignal(SignalKind.QUEUED, "j1"))
        heard.clear()
        there.pin("j1", "r1")
        heard.hear(JobSignal(SignalKind.QUEUED, "j1"), within=10)

    def test_a_cancel_requested_for_a_running_job_is_signalled(
        self, opener: Callable[[], JobStore]
    ) -> None:
        # The replica running the job hears it at once, not at its next heartbeat; a
        # request that changes nothing (the job is not running) signals nothing.
        here, there = opener(), opener()
        heard = _Heard(here)
        there.create(new_job("j1"))
        there.request_cancel("j1")
        assert there.claim("r2", 60) is not None
        heard.hear(JobSignal(SignalKind.CHANGED, "j1"))
        there.request_cancel("j1")
        heard.hear(JobSignal(SignalKind.CANCEL, "j1"))
        assert heard.signals.count(JobSignal(SignalKind.CANCEL, "j1")) == 1

    def test_a_delivery_ending_while_a_delete_commits_records_no_message(
        self, opener: Callable[[], JobStore], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The delete holds the job and delivery rows; the attempt's UPDATE, started
        # meanwhile, waits on the delivery row. Once the delete commits it must see the
        # job deleted: READ COMMITTED gave its subquery the snapshot of before.
        store = opener()
        store.create(new_job("j1", spec=personal_spec()))
        store.transition("j1", {Q}, C)
        now = datetime.now(UTC)
        assert len(store.claim_notifications(timedelta(minutes=1), 10)) == 3
        forgot, commit = threading.Event(), threading.Event()
        forget = postgres_forgetting.forget

        def forget_then_wait(db: postgres_forgetting.Conn, job_id: str, spec_json: str) -> None:
            forget(db, job_id, spec_json)
            forgot.set()
            assert commit.wait(30)

        monkeypatch.setattr(postgres_forgetting, "forget", forget_then_wait)
        deleting = threading.Thread(target=store.mark_deleted, args=("j1", {C}))
        deleting.start()
        assert forgot.wait(30)
        recorded: list[bool] = []
        recording = threading.Thread(
            target=lambda: recorded.append(
                store.record_notification_attempt(
                    "j1.1",
                    state=DeliveryState.FAILED,
                    error=f"SMTP 550 {EMAIL}",
                    attempted_at=now,
                    next_attempt_at=None,
                )
            )
        )
        recording.start()
        self._wait_for_a_lock_wait(recording)
        commit.set()
        deleting.join(30)
        recording.join(30)
        assert recorded == [True]
        got = [(d.attempts, d.last_error) for d in store.notifications("j1")]
        assert got == [(0, EXPORT_DELETED), (1, FORGOTTEN_ERROR), (0, EXPORT_DELETED)]
        assert store.get("j1").state == JobState.DELETED

    def _wait_for_a_lock_wait(self, thread: threading.Thread) -> None:
        """Until a backend of the test's database waits on a lock (the thread's write
        blocked), or the thread ended without waiting."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            for _ in range(3000):
                waiting = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                ).fetchone()
                if (waiting is not None and waiting[0]) or not thread.is_alive():
                    return
                time.sleep(0.01)
        raise AssertionError("the write never waited on the delete's locks")


class _Heard:
    """The signals a store hears from the others (LISTEN/NOTIFY), to wait for."""

    def __init__(self, store: JobStore) -> None:
        self.signals: list[JobSignal] = []
        self._arrived = threading.Condition()
        store.listen(self._heard)
        time.sleep(0.5)  # the listening connection is up (signals before it are polled)

    def _heard(self, signal: JobSignal) -> None:
        with self._arrived:
            self.signals.append(signal)
            self._arrived.notify_all()

    def hear(self, expected: JobSignal, within: float = 30) -> None:
        with self._arrived:
            assert self._arrived.wait_for(lambda: expected in self.signals, within), self.signals

    def clear(self) -> None:
        with self._arrived:
            self.signals.clear()
