"""Run a real export in-process (pipeline + manifest) for tests of what reads exports."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from sluice.format.manifest import Manifest
from sluice.server.execution.manifest_writer import build_manifest, write_manifest
from sluice.server.jobs.model import ChunkRecord
from sluice.server.pipeline.export import PipelineOptions, ResumePoint, run_pipeline
from sluice.server.pipeline.results import ChunkResult, PipelineProgress
from sluice.server.planning.plan import ExportPlan, build_plan
from sluice.server.planning.spec import (
    ChunkingSpec,
    DestinationSpec,
    ExportSpec,
    OutputSpec,
    QuerySpec,
    SourceSpec,
)
from sluice.server.settings import load_settings
from sluice.sinks import LocalSink
from sluice.sinks.base import Sink


class Journal:
    """The pipeline's journal, in memory: the chunks committed, in order."""

    def __init__(self) -> None:
        self.chunks: list[ChunkRecord] = []

    def before_commit(self, index: int) -> None:
        pass

    def chunk_committed(self, chunk: ChunkResult, progress: PipelineProgress) -> None:
        self.chunks.append(chunk)

    def progress(self, progress: PipelineProgress) -> None:
        pass


def export_to(
    sink: Sink,
    tmp_path: Path,
    source: Path,
    export_id: str,
    *,
    dataset: str = "events",
    max_rows: int = 1_000,
    where: str = "",
    key: bytes = b"k" * 32,
    key_id: str = "key-1",
    **manifest_fields: Any,
) -> str:
    """Export `source` into `sink` and commit a manifest; return the manifest key."""
    plan = plan_export(tmp_path, source, export_id, dataset=dataset, where=where, max_rows=max_rows)
    journal = Journal()
    options = PipelineOptions(512, 2, 0, key)
    run_pipeline(plan.pipeline, sink, ResumePoint(), journal, threading.Event(), options)
    now = datetime.now(UTC)
    manifest = build_manifest(
        plan, journal.chunks, created_at=now, finished_at=now, digest_key_id=key_id
    )
    # Fields given as the JSON they are stored as (a watermark, a key index entry...).
    manifest = Manifest.from_dict({**manifest.to_dict(), **manifest_fields})
    write_manifest(sink, plan.manifest_key, manifest)
    return plan.manifest_key


def plan_export(
    tmp_path: Path,
    source: Path,
    export_id: str,
    *,
    dataset: str = "events",
    where: str = "",
    max_rows: int = 1_000,
    output: OutputSpec | None = None,
    chunking: ChunkingSpec | None = None,
    columns: tuple[str, ...] = (),
) -> ExportPlan:
    """The plan of an export of `source` (its `columns`, or all) into `tmp_path`/out, under
    settings that allow both folders and keep their state in `tmp_path`/state; chunks of
    `max_rows` rows unless `chunking` says otherwise."""
    settings = load_settings(
        None,
        {
            "state_dir": tmp_path / "state",
            "allowed_source_roots": [source.parent],
            "allowed_roots": [tmp_path / "out"],
        },
        environ={},
    )
    spec = ExportSpec(
        source=SourceSpec(str(source)),
        destination=DestinationSpec(str(tmp_path / "out"), dataset),
        query=QuerySpec(columns=columns, where=where),
        output=output or OutputSpec(),
        chunking=chunking or ChunkingSpec(max_rows=max_rows),
    )
    return build_plan(spec, settings, export_id, owner="")


def export_parquet_chunks(
    tmp_path: Path, source: Path, target_bytes: int, batch_rows: int
) -> tuple[ExportPlan, LocalSink, Journal]:
    """Export `source` as zstd Parquet chunks of about `target_bytes` into `tmp_path`/out,
    reading `batch_rows` rows at a time; the plan, the sink and what was journalled."""
    plan = plan_export(
        tmp_path,
        source,
        "exp-1",
        dataset="d",
        output=OutputSpec("parquet", "zstd"),
        chunking=ChunkingSpec(target_bytes=target_bytes),
    )
    sink = LocalSink(tmp_path / "out")
    journal = Journal()
    options = PipelineOptions(batch_rows, 2, 0, b"k" * 32)
    run_pipeline(plan.pipeline, sink, ResumePoint(), journal, threading.Event(), options)
    return plan, sink, journal


def with_middle_rows_changed(source: Path, folder: Path) -> Path:
    """A copy of `source` (3,000 demo rows) whose rows 1,100-1,200, inside the middle of
    three 1,000-row chunks, have another amount: one chunk changes, the others do not."""
    frame = pl.read_parquet(source)
    changed = frame.with_columns(
        pl.when(pl.col("id").is_between(1_100, 1_200))
        .then(pl.col("amount") + 1)
        .otherwise(pl.col("amount"))
        .alias("amount")
    )
    path = folder / "changed.parquet"
    changed.write_parquet(path)
    return path
