"""A fixed-size list (Array) column with nulls, read from an Arrow file in pipeline
batches shorter than the file's batch: Polars fails on a slice of one ("validity mask
length must be equal to the number of values divided by size"), the first slice (offset
0, values running on past its rows) as well as later ones (server/pipeline/reader.py)."""

from __future__ import annotations

import threading
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from sluice.server.pipeline.export import PipelineOptions, ResumePoint, run_pipeline
from sluice.server.planning.spec import ChunkingSpec, OutputSpec
from sluice.sinks import LocalSink
from tests.unit.exporting import Journal, plan_export


@pytest.mark.parametrize("batch_rows", [3, 4, 7])
def test_array_with_nulls_in_one_arrow_batch_reads_back_in_shorter_pipeline_batches(
    tmp_path: Path, batch_rows: int
) -> None:
    rows = 10
    values = pa.array([i if i % 5 else None for i in range(rows * 2)], pa.int64())
    missing = pa.array([i % 4 == 1 for i in range(rows)])
    batch = pa.record_batch(
        {
            "id": pa.array(range(rows), pa.int64()),
            "pair": pa.FixedSizeListArray.from_arrays(values, 2, mask=missing),
        }
    )
    source = tmp_path / "src" / "s.arrow"
    source.parent.mkdir()
    with ipc.new_file(str(source), batch.schema) as writer:
        writer.write_batch(batch)  # one batch: the reader slices it
    plan = plan_export(
        tmp_path,
        source,
        "exp-1",
        dataset="d",
        output=OutputSpec("parquet", "none"),
        chunking=ChunkingSpec(max_rows=100),
    )
    sink = LocalSink(tmp_path / "out")
    options = PipelineOptions(batch_rows, 2, 0, b"k" * 32)
    run_pipeline(plan.pipeline, sink, ResumePoint(), Journal(), threading.Event(), options)
    [file] = sorted((tmp_path / "out").rglob("*.parquet"))
    sent = pl.from_arrow(batch)
    assert isinstance(sent, pl.DataFrame)
    assert pl.read_parquet(file).equals(sent)
