"""Arrow files hold categoricals as strings (an IPC file has one dictionary per column,
while Polars gives each batch's categoricals a dictionary of their own): at any depth,
map keys included, and the manifest's schema says so, the same as each file's."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow.ipc as ipc

from sluice.server.execution.manifest_writer import build_manifest, write_manifest
from sluice.server.pipeline.export import PipelineOptions, ResumePoint, run_pipeline
from sluice.server.planning.spec import ChunkingSpec, OutputSpec
from sluice.sinks import LocalSink
from tests.unit.exporting import Journal, plan_export

ROWS = 10


def _map(key: pl.DataType, value: pl.DataType) -> pl.Series:
    rows = [
        None
        if i == 4
        else [{"key": k, "value": v} for k, v in zip("abc"[: i % 3 + 1], "xyz", strict=False)]
        for i in range(ROWS)
    ]
    entries = pl.List(pl.Struct({"key": pl.String, "value": pl.String}))
    typed = pl.List(pl.Struct({"key": key, "value": value}))
    return pl.Series(rows, dtype=entries).cast(typed).cast(pl.Map(key, value))


def _source() -> pl.DataFrame:
    letters = [None if i == 3 else "abcd"[i % 4] for i in range(ROWS)]
    cat = pl.Series(letters, dtype=pl.Categorical)
    return pl.DataFrame(
        {
            "id": range(ROWS),
            "c": cat,
            "l": pl.Series([[v, "z"] for v in letters], dtype=pl.List(pl.Categorical)),
            "s": pl.DataFrame({"c": cat}).to_struct(),
            "e": pl.Series(letters, dtype=pl.Enum(["a", "b", "c", "d"])),
            "m_keys": _map(pl.Categorical(), pl.String()),
            "m_values": _map(pl.String(), pl.Categorical()),
            "m_both": _map(pl.Categorical(), pl.Categorical()),
        }
    )


def test_arrow_export_writes_categoricals_as_strings_and_its_manifest_says_so(
    tmp_path: Path,
) -> None:
    source = tmp_path / "src" / "s.arrow"
    source.parent.mkdir()
    frame = _source()
    frame.write_ipc(source)
    plan = plan_export(
        tmp_path,
        source,
        "exp-1",
        dataset="d",
        output=OutputSpec("arrow", "none"),
        chunking=ChunkingSpec(max_rows=5),
    )
    sink = LocalSink(tmp_path / "out")
    journal = Journal()
    # Batches of 2 rows: each chunk of 5 is three batches, each with its own dictionary.
    options = PipelineOptions(2, 2, 0, b"k" * 32)
    run_pipeline(plan.pipeline, sink, ResumePoint(), journal, threading.Event(), options)
    now = datetime.now(UTC)
    manifest = build_manifest(
        plan, journal.chunks, created_at=now, finished_at=now, digest_key_id="k"
    )
    write_manifest(sink, plan.manifest_key, manifest)

    declared = json.loads((tmp_path / "out" / plan.manifest_key).read_text())["schema"]
    files = sorted((tmp_path / "out").rglob("*.arrow"))
    assert len(files) == 2
    for file in files:
        schema = ipc.open_file(str(file)).schema
        assert [(f["name"], f["type"]) for f in declared] == [(f.name, str(f.type)) for f in schema]
    assert "dictionary" not in json.dumps([f for f in declared if f["name"] != "e"])
    assert next(f["type"] for f in declared if f["name"] == "e").startswith("dictionary<")

    read = pl.concat([pl.read_ipc(f) for f in files])
    assert read.schema["c"] == pl.String
    assert read.schema["m_both"] == pl.Map(pl.String, pl.String)
    assert read.schema["e"] == frame.schema["e"]
    # The values as text, the same as the source's.
    as_text = pl.Map(pl.String, pl.String)
    for name in ("m_keys", "m_values", "m_both"):
        entries = pl.List(pl.Struct({"key": pl.String, "value": pl.String}))
        assert read[name].cast(entries).to_list() == (
            frame[name]
            .cast(
                pl.List(
                    pl.Struct({"key": frame.schema[name].key, "value": frame.schema[name].value})
                )
            )  # type: ignore[attr-defined]
            .cast(entries)
            .to_list()
        ), name
        assert read.schema[name] == as_text
    assert (
        read.select("id", "c", "l", "s", "e")
        .cast(
            {
                "c": pl.String,
                "l": pl.List(pl.String),
                "s": pl.Struct({"c": pl.String}),
                "e": pl.String,
            }
        )
        .to_dicts()
        == frame.select("id", "c", "l", "s", "e")
        .cast(
            {
                "c": pl.String,
                "l": pl.List(pl.String),
                "s": pl.Struct({"c": pl.String}),
                "e": pl.String,
            }
        )
        .to_dicts()
    )
