"""Broken puts parked per principal (flight_parked_puts_per_principal,
server.flight.parked_puts), in one process: the real FlightPuts, export service, runner
and pipeline on a SQLite job store and a local folder. A broken put is a stream that
raises (as grpcio's request iterator does on a cancelled call) and whose call is then
gone (caller_alive false).

- a put killed while its batch waits for room in a full inbox broke like any other:
  it parks, or beyond the limit its export fails RESOURCE_EXHAUSTED (it failed
  FAILED_PRECONDITION "the export is no longer reading this stream", uncounted);
- the limit is per principal, 0 meaning no limit (it meant "none may wait");
- the anonymous principal is named as such in the error (it read "principal ''");
- a run that lost its lease here frees its inbox: its parked put no longer counts;
- a resumed run that ended before the put attached leaves no inbox behind."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from sluice.server.errors import Interrupted
from sluice.server.execution.executor import ExecutionContext
from sluice.server.flight.ipc_codec import batch_payload, schema_payload
from sluice.server.flight.puts import FlightPuts, PutMessage, PutRequest
from sluice.server.jobs.model import AttemptOutcome, Job, JobState
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.pipeline.stream_source import INBOXES
from sluice.server.planning.spec import DestinationSpec, ExportSpec, SourceSpec
from sluice.server.principals import ANONYMOUS, Principal
from sluice.server.service.events import EventHub
from sluice.server.service.export_service import ExportService
from sluice.server.service.runner import ExportRunner
from sluice.server.settings import load_settings
from sluice.sinks import open_sink
from tests.integration.helpers import read_export

SCHEMA = pa.schema([("id", pa.int64())])
ROWS = 100
DEPTH = 4
WAIT = 120.0
ANNOUNCE = PutMessage(schema_payload(SCHEMA), end_of_records=False)


def _principal(name: str) -> Principal:
    # Inboxes are the process's (INBOXES): each test counts its own principals' puts.
    return Principal(name=name, scopes=ANONYMOUS.scopes)


class _ConnectionReset(Exception):
    """What a cancelled call's request iterator raises."""


class _Daemon:
    """The pieces of a daemon that a put meets."""

    def __init__(self, tmp_path: Path, service_type: type[ExportService], **settings: Any) -> None:
        self.exports = tmp_path / "exports"
        self.exports.mkdir(parents=True)
        base = {"state_dir": tmp_path / "state", "allowed_roots": [self.exports]}
        base |= {"max_concurrent_exports": 8, "flight_inflight_batches": DEPTH}
        self.settings = load_settings(None, base | settings, environ={})
        self.store, self.hub = SQLiteJobStore(":memory:"), EventHub()
        context = ExecutionContext(
            self.settings, self.store, self.hub, open_sink, b"k" * 32, "key-id", b"i" * 32
        )
        self.runner = ExportRunner(context)
        self.service = service_type(self.settings, self.store, self.runner, self.hub)
        self.puts = FlightPuts(self.settings, self.store, self.service, self.hub)
        self._export_ids: set[str] = set()

    def close(self) -> None:
        self.runner.shutdown(5)
        for export_id in self._export_ids:
            INBOXES.discard(export_id)  # exports handed back at shutdown keep theirs

    def put(
        self,
        request_id: str,
        rest: Iterator[PutMessage],
        principal: Principal = ANONYMOUS,
        alive: Callable[[], bool] = lambda: True,
    ) -> Iterator[dict[str, Any]]:
        dest = DestinationSpec(str(self.exports), request_id)
        request = PutRequest(ExportSpec(source=SourceSpec(""), destination=dest), request_id)
        acks = self.puts.put(request, ANNOUNCE, rest, alive, principal)
        for ack in acks:
            self._export_ids.add(str(ack["export_id"]))
            yield ack

    def final(self, export_id: str) -> Job:
        deadline = time.monotonic() + WAIT
        while not (job := self.store.get(export_id)).state.final:
            assert time.monotonic() < deadline, f"export {export_id} never ended: {job.state}"
            time.sleep(0.1)
        return job

    def first_failed(self, export_ids: list[str]) -> Job:
        deadline = time.monotonic() + WAIT
        while True:
            failed = [j for e in export_ids if (j := self.store.get(e)).state == JobState.FAILED]
            if failed:
                return failed[0]
            assert time.monotonic() < deadline, [self.store.get(e).state for e in export_ids]
            time.sleep(0.1)


class _Put:
    """A put running on its own thread (grpcio's RPC thread); `kill` ends its call."""

    def __init__(self, acks: Iterator[dict[str, Any]]) -> None:
        self._alive = True
        self.first = threading.Event()
        self.acks: list[dict[str, Any]] = []
        self.failure: list[BaseException] = []
        self._acks = acks
        self._thread = threading.Thread(target=self._run, daemon=True)

    def alive(self) -> bool:
        return self._alive

    def start(self) -> _Put:
        self._thread.start()
        assert self.first.wait(WAIT), "the put never acknowledged"
        return self

    def kill(self) -> None:
        self._alive = False
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), "the killed put never ended"

    @property
    def export_id(self) -> str:
        return str(self.acks[0]["export_id"])

    def _run(self) -> None:
        try:
            for ack in self._acks:
                self.acks.append(ack)
                self.first.set()
        except BaseException as exc:  # reported by the test
            self.failure.append(exc)
        self.first.set()


def _batch(start: int, stop: int, end: bool | None = None) -> PutMessage:
    rows = pa.record_batch([pa.array(range(start, stop), pa.int64())], schema=SCHEMA)
    return PutMessage(batch_payload(rows), end_of_records=end)


def _cut(cutting: threading.Event) -> Iterator[PutMessage]:
    yield _batch(0, 10)
    cutting.set()
    raise _ConnectionReset("connection reset")


def _broken(daemon: _Daemon, request_id: str, principal: Principal = ANONYMOUS) -> str:
    """A put whose stream broke after 10 rows, its call then gone: its export."""
    holder: list[_Put] = []
    cutting = threading.Event()
    put = _Put(daemon.put(request_id, _cut(cutting), principal, lambda: holder[0].alive()))
    holder.append(put)
    put.start()
    assert cutting.wait(WAIT), "the put never read its stream"
    put.kill()
    return put.export_id


def _resume(daemon: _Daemon, request_id: str, principal: Principal) -> list[dict[str, Any]]:
    """A put with the same requestId sending every row from its first ack's position."""
    start: list[int] = []

    def rest() -> Iterator[PutMessage]:
        yield _batch(start[0], ROWS, end=True)

    acks = daemon.put(request_id, rest(), principal)
    first = next(acks)
    start.append(int(first["committed_records"]))
    return [first, *acks]


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Callable[..., _Daemon]]:
    made: list[_Daemon] = []

    def make(service_type: type[ExportService] = ExportService, **settings: Any) -> _Daemon:
        made.append(_Daemon(tmp_path / str(len(made)), service_type, **settings))
        return made[-1]

    yield make
    for daemon in made:
        daemon.close()


def _feeders() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "flight-put"}


@pytest.mark.parametrize("killed", ["waiting for room", "between two batches"])
def test_a_put_killed_mid_stream_broke_and_is_counted(
    daemons: Callable[..., _Daemon], killed: str
) -> None:
    daemon = daemons(flight_parked_puts_per_principal=1, flight_put_idle_timeout=WAIT)
    carol = _principal(f"carol {killed}")
    # Nothing reads yet: the second put fills its export's inbox and waits for room, or
    # its call ends just as its feeder got the next batch.
    parked = _broken(daemon, "parked", carol)
    full = threading.Event()
    holder: list[_Put] = []

    def stream() -> Iterator[PutMessage]:
        for n in range(10_000):
            if n == DEPTH and killed == "waiting for room":
                full.set()  # the inbox holds DEPTH batches: this one waits for room
            if n == 2 and killed == "between two batches":
                holder[0].kill()
                full.set()
            yield _batch(n * 10, n * 10 + 10)

    before = _feeders()
    waiting = _Put(daemon.put("waiting", stream(), carol, lambda: holder[0].alive()))
    holder.append(waiting)
    waiting.start()
    assert full.wait(WAIT), "the put never got that far"
    waiting.kill()
    for feeder in _feeders() - before:
        feeder.join(WAIT)  # the killed put's feeder gave up before anything reads
    daemon.runner.start()
    ids = {parked: "parked", waiting.export_id: "waiting"}
    failed = daemon.first_failed(list(ids))
    assert failed.error is not None
    assert (failed.error.code, failed.error.message.split(": the export")[0]) == (
        "RESOURCE_EXHAUSTED",
        f"the put of export {failed.id} broke while principal 'carol {killed}' already "
        "had 1 broken put(s) waiting for a resume, the most allowed "
        "(flight_parked_puts_per_principal)",
    ), failed.error
    (other,) = [e for e in ids if e != failed.id]
    assert not daemon.store.get(other).state.final  # parked: waits for its resume
    # Nothing lost: a put with the same requestId finishes it with every row.
    acks = _resume(daemon, ids[failed.id], carol)
    assert acks[-1]["state"] == "succeeded", acks
    records = read_export(str(acks[-1]["manifest_uri"]))
    assert records["id"].to_list() == list(range(ROWS))


def test_the_limit_is_per_principal(daemons: Callable[..., _Daemon]) -> None:
    # Parked puts end cancelled once flight_put_idle_timeout passes; refused ones failed.
    daemon = daemons(flight_parked_puts_per_principal=1, flight_put_idle_timeout=20.0)
    daemon.runner.start()
    owners = [_principal("alice"), _principal("bob")]
    ids = {_broken(daemon, f"{p.name}-{n}", p): p.name for p in owners for n in (1, 2)}
    ends = {e: daemon.final(e) for e in ids}
    for name in ("alice", "bob"):
        jobs = sorted((j for e, j in ends.items() if ids[e] == name), key=lambda j: j.state)
        assert [j.state for j in jobs] == [JobState.CANCELLED, JobState.FAILED], jobs
        cancelled, failed = jobs
        assert cancelled.error is not None
        assert "flight_put_idle_timeout" in cancelled.error.message
        assert failed.error is not None and failed.error.code == "RESOURCE_EXHAUSTED"
        assert f"principal '{name}' already had 1 broken put(s)" in failed.error.message


def test_the_anonymous_principal_is_named_so(daemons: Callable[..., _Daemon]) -> None:
    daemon = daemons(flight_parked_puts_per_principal=1, flight_put_idle_timeout=WAIT)
    daemon.runner.start()
    failed = daemon.first_failed([_broken(daemon, f"anonymous-{n}") for n in (1, 2)])
    assert failed.error is not None and failed.error.code == "RESOURCE_EXHAUSTED"
    assert failed.error.message.startswith(
        f"the put of export {failed.id} broke while anonymous callers already had 1 "
        "broken put(s) waiting for a resume"
    ), failed.error.message


def test_zero_parked_puts_per_principal_means_no_limit(daemons: Callable[..., _Daemon]) -> None:
    daemon = daemons(flight_parked_puts_per_principal=0, flight_put_idle_timeout=10.0)
    daemon.runner.start()
    erin = _principal("erin")
    ids = [_broken(daemon, f"broken-{n}", erin) for n in range(3)]
    for job in (daemon.final(e) for e in ids):
        # Each waited for its resume until flight_put_idle_timeout, none was refused.
        assert job.state == JobState.CANCELLED, job.error
        assert job.error is not None and "flight_put_idle_timeout" in job.error.message


def test_a_run_that_lost_its_lease_no_longer_counts_its_parked_put(
    daemons: Callable[..., _Daemon],
) -> None:
    daemon = daemons(
        flight_parked_puts_per_principal=1,
        flight_put_idle_timeout=20.0,
        replica_id="here",
        job_lease_seconds=1,
    )
    daemon.runner.start()
    dave = _principal("dave")
    taken = _broken(daemon, "taken-over", dave)
    deadline = time.monotonic() + WAIT
    while daemon.store.get(taken).state != JobState.RUNNING:
        assert time.monotonic() < deadline, "the export never ran"
        time.sleep(0.1)
    # Another replica takes the export over: the run here stops at its heartbeat. That
    # heartbeat's renew may restore the lease between the expiry and the claim: expire
    # again until the claim wins.
    while True:
        daemon.store.expire_leases()
        claimed = daemon.store.claim("there", 600)
        if claimed is not None:
            break
        assert time.monotonic() < deadline, "no claim ever won over the renewing heartbeat"
        time.sleep(0.05)
    assert claimed is not None and claimed[0].id == taken
    lost = AttemptOutcome.LEASE_LOST
    while all(a.outcome != lost for a in daemon.store.attempts(taken)):
        assert time.monotonic() < deadline, daemon.store.attempts(taken)
        time.sleep(0.1)
    deadline = time.monotonic() + 30
    while INBOXES.current(taken) is not None:
        assert time.monotonic() < deadline, "the lost run's inbox (and its batches) stayed"
        time.sleep(0.1)
    # Its put waits for no resume here: the principal's next broken put parks.
    later = daemon.final(_broken(daemon, "later", dave))
    assert later.state == JobState.CANCELLED, later.error


class _CancelledOnResume(ExportService):
    """The run a put resumed ends (cancelled while queued) before the put attaches."""

    def resume(self, job_id: str, principal: Principal, *, pushed: bool = False) -> Job:
        job = super().resume(job_id, principal, pushed=pushed)
        self._runner.cancel(job_id)
        return job


def test_a_resumed_run_that_ended_before_the_put_attached_leaves_no_inbox(
    daemons: Callable[..., _Daemon],
) -> None:
    daemon = daemons(_CancelledOnResume, flight_put_idle_timeout=WAIT)
    export_id = _broken(daemon, "ended")  # queued: the runner never starts
    daemon.runner.cancel(export_id)
    assert daemon.store.get(export_id).state == JobState.CANCELLED
    assert INBOXES.current(export_id) is None

    def batches() -> Iterator[PutMessage]:
        for n in range(0, ROWS, 10):
            yield _batch(n, n + 10)

    with pytest.raises(Interrupted, match="was cancelled"):
        list(daemon.put("ended", batches()))
    assert daemon.store.get(export_id).state == JobState.CANCELLED
    assert INBOXES.current(export_id) is None, "the put left an inbox (and batches) behind"
