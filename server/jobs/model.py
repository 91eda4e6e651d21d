"""Job records as the job store keeps them: plain data, no behaviour beyond state rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sluice.server.pipeline.cursor_values import CursorValue
from sluice.server.planning.spec import ExportSpec


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    #: A succeeded export whose stored objects were removed (delete or retention).
    DELETED = "deleted"

    @property
    def final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.DELETED}
)
UNFINISHED_STATES = frozenset({JobState.QUEUED, JobState.RUNNING})
RESUMABLE_STATES = frozenset({JobState.FAILED, JobState.CANCELLED})
CANCELLABLE_STATES = UNFINISHED_STATES


@dataclass(frozen=True)
class JobError:
    #: A server.errors.ErrorCode value.
    code: str
    message: str
    transient: bool = False


@dataclass(frozen=True)
class Progress:
    records: int = 0
    chunks: int = 0
    stored_bytes: int = 0
    source_rows_done: int = 0
    #: 0 when unknown.
    source_rows_total: int = 0
    #: Running per-stage counters ("rule/column" -> values changed), summed over chunks.
    counters: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Job:
    id: str
    spec: ExportSpec
    state: JobState
    created_at: datetime
    updated_at: datetime
    request_id: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: Progress = field(default_factory=Progress)
    manifest_uri: str = ""
    error: JobError | None = None

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.spec.labels)


@dataclass(frozen=True)
class ChunkRecord:
    """One committed chunk, journalled before it is acknowledged to anyone."""

    index: int
    #: Relative to the export folder (where manifest.json lives).
    path: str
    records: int
    stored_bytes: int
    #: Hex sha256 of the stored bytes.
    sha256: str
    #: Keyed digest of the plaintext content, "hmac-sha256:<hex>".
    content_digest: str
    #: Source row positions [source_start, source_end) the chunk covers.
    source_start: int
    source_end: int
    committed_at: datetime
    #: Per-stage counters for this chunk, e.g. values each redaction rule changed,
    #: keyed "rule/column". Journalled with the chunk so totals survive a resume.
    counters: tuple[tuple[str, int], ...] = ()
    #: Largest incremental cursor value among the chunk's records (JSON-safe), if any.
    cursor_max: CursorValue = None


@dataclass(frozen=True)
class NewJob:
    id: str
    spec: ExportSpec
    request_id: str = ""
    #: ExportSpec.fingerprint(), to tell a retry from a reused request id.
    request_fingerprint: str = ""


@dataclass(frozen=True)
class JobFilter:
    states: frozenset[JobState] = frozenset()
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class JobPage:
    jobs: tuple[Job, ...]
    #: Empty on the last page.
    next_page_token: str = ""
