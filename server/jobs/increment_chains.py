"""One increment of a chain at a time. An increment takes the latest committed export of
its (destination, dataset, creator) as its parent when it runs: two running at once
would both take the same parent and send the same changes, forking the chain. So an
increment is refused (FAILED_PRECONDITION naming the other export) while another of the
same chain is unfinished when it is created, or running when its run starts (before it
plans, so the parent it then finds is the last one committed). The job stores check the
first again in their create transaction, which serialises creates
(refuse_second_increment): two replicas creating increments of one chain at once (both
past the service's early check while they planned) make one export; the other is
refused. Two runs started at the very same moment (two replicas) may both be refused;
neither forks the chain. A run's refusal is transient (IncrementRunning): nothing is
written yet, so the run goes back to the queue with the normal retry backoff and runs
after the other, from its parent.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from pathlib import Path

from sluice.server.committed.chain_tips import ChainTip
from sluice.server.errors import FailedPrecondition
from sluice.server.jobs.model import UNFINISHED_STATES, Job, JobState, NewJob
from sluice.server.jobs.store import JobStore
from sluice.server.planning.spec import ExportSpec
from sluice.sinks.locations import LocationRefused, classify, without_credentials

_log = logging.getLogger(__name__)


class IncrementRunning(FailedPrecondition):
    """Another increment of the chain is running when this one's run starts: nothing of
    this run is written yet, so it is transient (the run goes back to the queue with the
    normal retry backoff and runs once the other ended, with the parent it committed)."""

    transient = True


#: IncrementalSpec.mode of an increment (the job stores look for it in stored specs).
INCREMENT_MODE = "incremental"


def is_increment(spec: ExportSpec) -> bool:
    return spec.incremental.mode == INCREMENT_MODE


def _chain(spec: ExportSpec, creator: str) -> tuple[str, str, str, str]:
    destination = spec.destination
    return (_location(destination.uri), destination.profile, destination.dataset, creator)


def _location(uri: str) -> str:
    """Where the parent lookup looks, however the destination is spelt: a local folder
    (a path or a file:// URL, trailing slash or not) as the planner resolves it
    (server/planning/plan.py _check_destination), a cloud URI without credentials and
    trailing slashes. The profile stays in the chain apart: it may name another
    endpoint, which is another store."""
    try:
        location = classify(uri.strip())
    except LocationRefused:  # refused when the export plans; compared as written
        return uri
    if location.kind == "local":
        return str(Path(location.target).resolve())
    scheme, _, rest = without_credentials(location.target).partition("://")
    return f"{scheme.lower()}://{rest.rstrip('/')}"


#: chain_tip reads a creator's exports of a dataset this many at a time, newest first
#: (the others are of the same dataset name in other destinations)...
_TIP_PAGE = 100
#: ... and gives up after this many: the check is then skipped, with a warning.
_TIP_SCAN_LIMIT = 20_000


def chain_tip(store: JobStore, spec: ExportSpec, creator: str) -> ChainTip | None:
    """The newest SUCCEEDED export of the chain `spec` continues (an increment's; None for
    any other export, or when the store knows none), for the planner to check that its
    manifest is still in the destination (committed/chain_tips.py). Paged until found:
    however many newer exports of the dataset went to other destinations."""
    if not is_increment(spec) or spec.subject is not None:
        return None
    chain = _chain(spec, creator)
    dataset = spec.destination.dataset
    last: Job | None = None
    for _ in range(_TIP_SCAN_LIMIT // _TIP_PAGE):
        page = store.newest_succeeded(creator, dataset, _TIP_PAGE, after=last)
        for job in page:
            if job.spec.subject is None and _chain(job.spec, job.created_by) == chain:
                return ChainTip(job.id, job.manifest_uri)
        if len(page) < _TIP_PAGE:
            return None
        last = page[-1]
    _log.warning(
        "the chain-tip check of an increment of dataset %r by %s was skipped: none of the "
        "creator's %d newest exports of it is of this destination",
        dataset,
        creator,
        _TIP_SCAN_LIMIT,
    )
    return None


def check_one_increment(
    store: JobStore,
    spec: ExportSpec,
    creator: str,
    *,
    job_id: str = "",
    states: Collection[JobState] = UNFINISHED_STATES,
    at_run: bool = False,
) -> None:
    """FailedPrecondition when `spec` is an increment and another export of its chain
    (not `job_id`) is in one of `states` (IncrementRunning, transient, `at_run`: a run's
    start, which may be retried)."""
    if is_increment(spec):
        _refuse_rival(spec, creator, store.unfinished(), job_id, states, at_run)


def refuse_second_increment(new: NewJob, unfinished: Iterable[Job]) -> None:
    """FailedPrecondition when `new` is an increment and `unfinished` (the store's
    queued and running exports, read in the transaction creating `new`; at least those of
    its creator and dataset) holds another increment of its chain."""
    if is_increment(new.spec):
        _refuse_rival(new.spec, new.created_by, unfinished, new.id, UNFINISHED_STATES, False)


def _refuse_rival(
    spec: ExportSpec,
    creator: str,
    unfinished: Iterable[Job],
    job_id: str,
    states: Collection[JobState],
    at_run: bool,
) -> None:
    chain = _chain(spec, creator)
    for other in unfinished:
        if other.id == job_id or other.state not in states or not is_increment(other.spec):
            continue
        if _chain(other.spec, other.created_by) == chain:
            raise (IncrementRunning if at_run else FailedPrecondition)(_refusal(other))


def _refusal(other: Job) -> str:
    destination = other.spec.destination
    return (
        f"export {other.id}, an increment of dataset {destination.dataset!r} in "
        f"{without_credentials(destination.uri)} by the same creator, is "
        f"{other.state.value.lower()}: one increment of a chain runs at a time (both "
        "would continue the same parent); wait for it to end, or cancel it"
    )
