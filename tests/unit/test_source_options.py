"""Source options: on_bad_rows (skipped rows counted exactly once, across resumes too),
column types, their CLI spelling, and stored specs from before they existed."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl
import pytest

from sluice.client.cli.params import parse_schema
from sluice.server.errors import Interrupted, InvalidArgument
from sluice.server.pipeline import csv_parsing, reader
from sluice.server.pipeline.bad_rows import SKIPPED_ROWS, BadRowTally, SourceDataError
from sluice.server.pipeline.export import PipelineOptions, ResumePoint, run_pipeline
from sluice.server.pipeline.results import ChunkResult, PipelineProgress
from sluice.server.pipeline.source import ROW_INDEX, ResolvedSource, read_schema
from sluice.server.planning.plan import build_plan
from sluice.server.planning.spec import (
    ChunkingSpec,
    DestinationSpec,
    ExportSpec,
    QuerySpec,
    SourceSpec,
)
from sluice.server.settings import load_settings
from sluice.sinks import LocalSink

ROWS = 3000
BAD = {0, 1, 97, 450, 451, 452, 1001, 2999}


def test_parse_schema() -> None:
    assert parse_schema("id:int64, zip:str") == [("id", "int64"), ("zip", "str")]
    assert parse_schema("a:b:str") == [("a:b", "str")]
    for bad in ("id", "id:", ":str"):
        with pytest.raises(ValueError, match="COLUMN:TYPE"):
            parse_schema(bad)


def test_specs_stored_before_the_source_options_still_load() -> None:
    spec = ExportSpec(SourceSpec("/data/x.csv"), DestinationSpec("/out", "d"))
    stored = spec.to_json()
    # Left out at their defaults: a stored spec and its request fingerprint are unchanged.
    assert '"on_bad_rows"' not in stored and '"schema"' not in stored
    # Named sources and templates too.
    assert '"name"' not in stored and "template" not in stored
    assert ExportSpec.from_json(stored) == spec
    named = ExportSpec(SourceSpec("", name="people"), DestinationSpec("/out", "d"), template="t")
    assert ExportSpec.from_json(named.to_json()) == named
    given = ExportSpec(
        SourceSpec("/data/x.csv", on_bad_rows="skip", schema=(("zip", "str"), ("id", "int32"))),
        DestinationSpec("/out", "d"),
    )
    assert ExportSpec.from_json(given.to_json()) == given
    assert given.fingerprint() != spec.fingerprint()


def test_tally_takes_rows_in_order_and_ignores_what_a_resume_already_counted() -> None:
    tally = BadRowTally(from_row=10)
    tally.record(9, 5)  # before the resume position: counted by an earlier chunk
    tally.record(10, 1)
    tally.record(10, 2)
    tally.record(25, 4)
    assert tally.take_before(10) == 0
    assert tally.take_before(11) == 3
    assert tally.take_before(25) == 0
    assert tally.take_rest() == 4


@dataclass
class _Journal:
    stop: threading.Event = field(default_factory=threading.Event)
    stop_after: int | None = None
    chunks: list[ChunkResult] = field(default_factory=list)

    def before_commit(self, index: int) -> None:
        pass

    def chunk_committed(self, chunk: ChunkResult, progress: PipelineProgress) -> None:
        self.chunks.append(chunk)
        if self.stop_after is not None and len(self.chunks) >= self.stop_after:
            self.stop.set()

    def progress(self, progress: PipelineProgress) -> None:
        pass

    def upload_journal(self, key: str) -> None:
        raise AssertionError("local sinks journal nothing")


def _source(folder: Path) -> Path:
    lines = ["id,name,amount"]
    for i in range(ROWS):
        lines.append(f"{i},x,{i},extra" if i in BAD else f"{i},n{i},{i * 3}")
    lines.append("a,b")  # after the last good row
    path = folder / "ragged.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("where", ["", "amount % 7 = 0"])
def test_skipped_rows_are_counted_once_across_a_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    # Small CSV blocks: many batches, so skipped rows fall inside, between and after chunks.
    monkeypatch.setattr(csv_parsing, "CSV_BLOCK_BYTES", 2048)
    sources = tmp_path / "sources"
    sources.mkdir()
    settings = load_settings(
        None,
        {
            "state_dir": tmp_path / "state",
            "allowed_roots": [tmp_path / "exports"],
            "allowed_source_roots": [sources],
        },
        environ={},
    )
    spec = ExportSpec(
        SourceSpec(str(_source(sources)), on_bad_rows="skip"),
        DestinationSpec(str(tmp_path / "exports"), "events"),
        query=QuerySpec(where=where),
        chunking=ChunkingSpec(max_rows=40 if where else 300),
    )
    plan = build_plan(spec, settings, "20250101T000000Z-00000000e1e1", owner="")
    options = PipelineOptions(batch_rows=64, queue_depth=2, zstd_threads=0, content_key=b"k" * 32)
    sink = LocalSink(tmp_path / "exports")

    whole = _Journal()
    whole_totals = run_pipeline(
        plan.pipeline, LocalSink(tmp_path / "whole"), ResumePoint(), whole, whole.stop, options
    )
    assert dict(whole_totals.counters)[SKIPPED_ROWS] == len(BAD) + 1
    assert len(whole.chunks) > 4
    counted = [dict(c.counters).get(SKIPPED_ROWS, 0) for c in whole.chunks]
    assert sum(n > 0 for n in counted) >= 3

    first = _Journal(stop_after=3)
    with pytest.raises(Interrupted):
        run_pipeline(plan.pipeline, sink, ResumePoint(), first, first.stop, options)
    second = _Journal()
    totals = run_pipeline(
        plan.pipeline, sink, ResumePoint.after(first.chunks), second, second.stop, options
    )

    # Every chunk counts the same skipped rows as in the uninterrupted run, and the rows
    # after the last chunk are counted once, by the run that reads them.
    chunks = first.chunks + second.chunks
    assert [c.counters for c in chunks] == [c.counters for c in whole.chunks]
    assert dict(totals.counters)[SKIPPED_ROWS] == len(BAD) + 1
    assert [c.records for c in chunks] == [c.records for c in whole.chunks]
    assert sum(c.records for c in chunks) == len(
        [i for i in range(ROWS) if i not in BAD and (not where or (i * 3) % 7 == 0)]
    )


def _ndjson_source(folder: Path) -> tuple[ResolvedSource, pl.Schema]:
    path = folder / "events.ndjson"
    path.write_text(
        '{"id": 1, "email": "a@example.com"}\n'
        '{"id": 2, "email": "secret.person@example.com", oops}\n'
        "\n"
        '{"id": 3, "email": "TOPSECRET\n'
        '{"id": 4, "email": "c@example.com"}\n'
    )
    source = ResolvedSource(str(path), "ndjson", (str(path),), on_bad_rows="skip")
    return source, read_schema(source)


def test_ndjson_lines_that_do_not_parse_are_named_or_skipped(tmp_path: Path) -> None:
    source, schema = _ndjson_source(tmp_path)
    assert schema == pl.Schema({ROW_INDEX: pl.UInt32, "id": pl.Int64, "email": pl.String})
    failing = replace(source, on_bad_rows="fail")
    with pytest.raises(InvalidArgument) as planning:
        read_schema(failing)
    with pytest.raises(SourceDataError) as running:
        list(reader.read_batches(failing, schema, ["id", "email"], 100))
    for message in (planning.value.message, running.value.message):
        assert f"{source.files[0]}: line 2 " in message and '"skip"' in message
        assert "secret" not in message and "oops" not in message

    tally = BadRowTally()
    frames = list(reader.read_batches(source, schema, ["id", "email"], 100, bad_rows=tally))
    assert pl.concat(frames)["id"].to_list() == [1, 4]
    assert pl.concat(frames)[ROW_INDEX].to_list() == [0, 1]
    assert tally.take_rest() == 2


def test_csv_values_that_do_not_convert_name_row_and_column_not_the_value(tmp_path: Path) -> None:
    path = tmp_path / "times.csv"
    path.write_text(
        "id,ts\n1,2024-01-01T00:00:00Z\n2,1999-12-31 23:59:58\n3,2024-01-03T00:00:00Z\n"
    )
    source = ResolvedSource(
        str(path), "csv", (str(path),), column_types=(("ts", "datetime_utc"), ("id", "int16"))
    )
    schema = read_schema(source)
    assert schema["ts"] == pl.Datetime("us", "UTC") and schema["id"] == pl.Int16
    with pytest.raises(SourceDataError) as raised:
        list(reader.read_batches(source, schema, ["id", "ts"], 100))
    message = raised.value.message
    assert message.startswith(f"{path}: row 2, column 'ts': "), message
    assert "timestamp[us, tz=UTC]" in message and "1999" not in message, message
