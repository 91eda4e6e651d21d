"""Export jobs: the records, the store contract, and the embedded SQLite store. The
PostgreSQL store (server/jobs/postgres.py) is imported only where configured, so psycopg
loads only in daemons that use it."""

from sluice.server.jobs.model import (
    CANCELLABLE_STATES,
    FINAL_STATES,
    RESUMABLE_STATES,
    UNFINISHED_STATES,
    ChunkRecord,
    Job,
    JobError,
    JobFilter,
    JobPage,
    JobState,
    Lease,
    NewJob,
    Progress,
)
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.jobs.store import JobStore

__all__ = [
    "CANCELLABLE_STATES",
    "FINAL_STATES",
    "RESUMABLE_STATES",
    "UNFINISHED_STATES",
    "ChunkRecord",
    "Job",
    "JobError",
    "JobFilter",
    "JobPage",
    "JobState",
    "JobStore",
    "Lease",
    "NewJob",
    "Progress",
    "SQLiteJobStore",
]
