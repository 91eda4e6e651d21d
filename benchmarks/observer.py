"""An export observer for in-process benchmarks: journals nothing, reports nothing."""

from __future__ import annotations

from sluice.server.pipeline.results import ChunkResult, PipelineProgress
from sluice.sinks.base import UploadJournal


class QuietObserver:
    def before_commit(self, index: int) -> None:
        pass

    def chunk_committed(self, chunk: ChunkResult, progress: PipelineProgress) -> None:
        pass

    def progress(self, progress: PipelineProgress) -> None:
        pass

    def upload_journal(self, key: str) -> UploadJournal:
        raise NotImplementedError("in-process benchmarks write to local folders only")
