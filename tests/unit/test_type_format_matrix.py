"""Every type a source can produce through every output format, in-process (plan, then the
real pipeline into a local folder, a manifest, and the chunks read back through the
client's ExportReader, which checks their digests).

Each (format, type) cell ends one of two ways: the planner refuses the column with
INVALID_ARGUMENT on spec.output.format naming the column and the format (REFUSED), or the
export succeeds and every value reads back the same (tests/unit/type_matrix.py says what
"the same" means: no digit of a nanosecond, a float's sign, a decimal's last digit or a
zone offset may be lost). A type's column is exported alone and inside a list, an array,
a struct and a list of structs of lists, with nulls at every level. Text formats are read
by an independent reader (json, Polars' CSV reader as text, lxml with the export's XSD, a
YAML safe loader, a GFM table parser) and their text taken back to values by the forms
the README documents."""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from lxml import etree

from sluice.client._reader import ExportReader, Keys
from sluice.server.errors import InvalidArgument, quoted
from sluice.server.execution.manifest_writer import build_manifest, write_manifest
from sluice.server.pipeline.data_types import categoricals_as_text
from sluice.server.pipeline.export import PipelineOptions, ResumePoint, run_pipeline
from sluice.server.pipeline.xml_encoding import xml_name, xml_schema_document
from sluice.server.planning.plan import ExportPlan
from sluice.server.planning.spec import ChunkingSpec, OutputSpec
from sluice.sinks import LocalSink
from tests.unit.exporting import Journal, plan_export
from tests.unit.test_text_formats import parse_markdown_table
from tests.unit.text_values import json_value, text_value
from tests.unit.type_matrix import CASES, canonical_series, family, instance, source_frame

FORMATS = ["parquet", "arrow", "jsonl", "json", "csv", "xml", "yaml", "markdown"]
#: Formats with no notation for bytes: a column holding bytes, at any depth, is refused.
WITHOUT_BYTES = {"jsonl", "json", "csv", "markdown"}
#: Formats that write maps as JSON objects, whose keys are text.
JSON_OBJECTS = {"jsonl", "json", "csv", "markdown"}
MAPS = {"map", "map_dt", "map_zoned", "map_date_keys"}
#: Cells the planner refuses: (format, type family).
REFUSED = (
    {(fmt, "bin") for fmt in WITHOUT_BYTES}
    | {(fmt, kind) for fmt in ("xml", "yaml") for kind in MAPS}  # no map notation yet
    | {(fmt, "map_dt") for fmt in JSON_OBJECTS}  # integer keys
)
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The source as an Arrow IPC file (every type kept as it is), and with no rows."""
    folder = tmp_path_factory.mktemp("types")
    frame = source_frame()
    frame.write_ipc(folder / "types.arrow")
    frame.clear().write_ipc(folder / "empty.arrow")
    # One file per type too: an Arrow file is read whole, whatever the export's columns.
    for case in CASES:
        frame.select(list(case.columns())).write_ipc(folder / f"{case.name}.arrow")
    return {"rows": folder / "types.arrow", "empty": folder / "empty.arrow"} | {
        case.name: folder / f"{case.name}.arrow" for case in CASES
    }


@pytest.fixture(scope="module")
def expected() -> dict[str, list[Any]]:
    frame = source_frame()
    return {name: canonical_series(frame[name]) for name in frame.columns}


def _planned(
    tmp_path: Path, source: Path, fmt: str, columns: list[str], compression: str = "none"
) -> ExportPlan:
    return plan_export(
        tmp_path,
        source,
        "exp-1",
        dataset="types",
        output=OutputSpec(fmt, compression),
        chunking=ChunkingSpec(max_rows=3),
        columns=tuple(columns),
    )


def _accepted(tmp_path: Path, source: Path, fmt: str, columns: list[str]) -> list[str]:
    """The columns the planner takes for `fmt`, each asked for alone; a refusal must be
    INVALID_ARGUMENT on spec.output.format naming the column and the format, and only
    for the cells in REFUSED."""
    taken = []
    for column in columns:
        try:
            _planned(tmp_path, source, fmt, [column])
        except InvalidArgument as exc:
            [violation] = exc.violations
            assert violation.field == "spec.output.format", exc
            assert quoted(column) in violation.description and fmt in violation.description
            assert "\n" not in violation.description
            assert (fmt, family(column)) in REFUSED, f"{column} refused for {fmt}: {exc}"
            continue
        assert (fmt, family(column)) not in REFUSED, f"{column} not refused for {fmt}"
        taken.append(column)
    return taken


def _export(
    tmp_path: Path, source: Path, fmt: str, columns: list[str], compression: str = "none"
) -> tuple[ExportPlan, list[bytes]]:
    """Run the export, write its manifest, and read its chunks back verified."""
    plan = _planned(tmp_path, source, fmt, columns, compression)
    sink = LocalSink(tmp_path / "out")
    journal = Journal()
    # Batches of 2 rows: each chunk of 3 is encoded from two batches, and the source's
    # batch is read in slices.
    options = PipelineOptions(2, 2, 0, b"k" * 32)
    run_pipeline(plan.pipeline, sink, ResumePoint(), journal, threading.Event(), options)
    now = datetime.now(UTC)
    manifest = build_manifest(
        plan, journal.chunks, created_at=now, finished_at=now, digest_key_id="k"
    )
    write_manifest(sink, plan.manifest_key, manifest)
    reader = ExportReader(str(tmp_path / "out" / plan.manifest_key), Keys())
    return plan, [chunk.plaintext.read() for chunk in reader.chunks()]


# --- readers: each chunk's records as {column: canonical value} ---------------------------


def _read_columnar(
    read: Callable[[io.BytesIO], pl.DataFrame], categoricals_kept: bool = True
) -> Callable[[bytes, pl.Schema], list[dict[str, Any]]]:
    def rows(data: bytes, schema: pl.Schema) -> list[dict[str, Any]]:
        frame = read(io.BytesIO(data))
        if not categoricals_kept:  # Arrow files hold categoricals as strings (README)
            schema = categoricals_as_text(pl.DataFrame(schema=schema)).schema
        assert frame.schema == schema, (frame.schema, schema)
        values = {name: canonical_series(frame[name]) for name in frame.columns}
        return [{n: values[n][i] for n in frame.columns} for i in range(frame.height)]

    return rows


def _read_jsonl(data: bytes, schema: pl.Schema) -> list[dict[str, Any]]:
    return [
        _json_record(json.loads(line, parse_float=Decimal), schema) for line in data.splitlines()
    ]


def _read_json(data: bytes, schema: pl.Schema) -> list[dict[str, Any]]:
    document = json.loads(data, parse_float=Decimal)
    assert (
        list(document) == ["metadata", "data"]
        and document["metadata"]["format"] == "sluice-json-v1"
    )
    return [_json_record(record, schema) for record in document["data"]]


def _json_record(record: dict[str, Any], schema: pl.Schema) -> dict[str, Any]:
    assert list(record) == list(schema), record
    return {name: json_value(record[name], dtype) for name, dtype in schema.items()}


def _cell(text: str | None, dtype: pl.DataType) -> Any:
    """A CSV or Markdown cell: nested values as JSON, scalars as text."""
    if text is None:
        return None
    if dtype.is_nested():
        return json_value(json.loads(text, parse_float=Decimal), dtype)
    return text_value(text, dtype)


def _read_csv(data: bytes, schema: pl.Schema) -> list[dict[str, Any]]:
    frame = pl.read_csv(io.BytesIO(data), infer_schema=False)
    assert frame.columns == list(schema)
    return [
        {name: _cell(row[name], dtype) for name, dtype in schema.items()}
        for row in frame.iter_rows(named=True)
    ]


def _read_markdown(data: bytes, schema: pl.Schema) -> list[dict[str, Any]]:
    _, names, rows = parse_markdown_table(data.decode())
    assert names == list(schema)
    # A null is an empty cell, like an empty string (README): both read as null.
    return [
        {
            name: _cell(cell or None, dtype)
            for (name, dtype), cell in zip(schema.items(), row, strict=True)
        }
        for row in rows
    ]


def _read_xml(data: bytes, schema: pl.Schema) -> list[dict[str, Any]]:
    document = etree.fromstring(data)
    etree.XMLSchema(etree.fromstring(xml_schema_document(schema))).assertValid(document)
    records = []
    for record in document:
        fields = list(record)
        assert [f.tag for f in fields] == [xml_name(n) for n in schema]
        records.append(
            {n: _xml_value(e, t) for (n, t), e in zip(schema.items(), fields, strict=True)}
        )
    return records


def _xml_value(element: Any, dtype: Any) -> Any:
    dtype = instance(dtype)
    if element.get(_XSI_NIL) == "true":
        return None
    if isinstance(dtype, pl.Struct):
        children = list(element)
        assert [c.tag for c in children] == [xml_name(f.name) for f in dtype.fields]
        return {f.name: _xml_value(c, f.dtype) for f, c in zip(dtype.fields, children, strict=True)}
    if isinstance(dtype, pl.List | pl.Array):
        assert all(c.tag == "item" for c in element)
        return [_xml_value(c, dtype.inner) for c in element]
    text: str = element.text or ""
    if element.get("escaped") == "true":
        text = re.sub(
            r"\\u([0-9A-F]{4})|\\\\", lambda m: chr(int(m[1], 16)) if m[1] else "\\", text
        )
    return text_value(text, dtype)


class _Stamp(str):
    """A scalar YAML resolved as a timestamp, kept as its text (Python's datetime would
    drop nanoseconds)."""


class _YamlLoader(yaml.SafeLoader):
    pass


_YamlLoader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    lambda loader, node: _Stamp(loader.construct_scalar(node)),  # type: ignore[arg-type]
)


def _read_yaml(data: bytes, schema: pl.Schema) -> list[dict[str, Any]]:
    records = yaml.load(data, Loader=_YamlLoader)  # a SafeLoader subclass
    assert isinstance(records, list)
    out = []
    for record in records:
        assert list(record) == list(schema)
        out.append({n: _yaml_value(record[n], t) for n, t in schema.items()})
    return out


def _yaml_value(value: Any, dtype: Any) -> Any:
    dtype = instance(dtype)
    if value is None:
        return None
    if isinstance(dtype, pl.Struct):
        assert list(value) == [f.name for f in dtype.fields]
        return {f.name: _yaml_value(value[f.name], f.dtype) for f in dtype.fields}
    if isinstance(dtype, pl.List | pl.Array):
        return [_yaml_value(v, dtype.inner) for v in value]
    if isinstance(dtype, pl.Date | pl.Datetime):
        assert isinstance(value, _Stamp), value  # a YAML timestamp, as documented
        return text_value(value, dtype)
    if isinstance(dtype, pl.Time | pl.Duration | pl.Decimal):
        assert type(value) is str, value
        return text_value(value, dtype)
    if isinstance(dtype, pl.Binary):
        assert isinstance(value, bytes), value
        return value
    if dtype.is_float():
        assert isinstance(value, float), value
        return text_value(repr(value), dtype)
    if isinstance(dtype, pl.String | pl.Categorical | pl.Enum):
        assert type(value) is str, value
        return value
    return value


READERS: dict[str, Callable[[bytes, pl.Schema], list[dict[str, Any]]]] = {
    "parquet": _read_columnar(pl.read_parquet),
    "arrow": _read_columnar(pl.read_ipc, categoricals_kept=False),
    "jsonl": _read_jsonl,
    "json": _read_json,
    "csv": _read_csv,
    "xml": _read_xml,
    "yaml": _read_yaml,
    "markdown": _read_markdown,
}


#: Formats writing whole records as JSON; csv and markdown write nested cells as JSON.
JSON_RECORDS = {"jsonl", "json"}
_NON_FINITE = {repr(float("nan")), repr(float("inf")), repr(float("-inf"))}


def _json_nulls(value: Any, dtype: Any) -> Any:
    """A canonical value as JSON text holds it (README): JSON has no notation for NaN
    and infinities, so they are written as null, at any depth."""
    dtype = instance(dtype)
    if value is None:
        return None
    if isinstance(dtype, pl.Struct):
        return {f.name: _json_nulls(value[f.name], f.dtype) for f in dtype.fields}
    if isinstance(dtype, pl.List | pl.Array):
        return [_json_nulls(v, dtype.inner) for v in value]
    if isinstance(dtype, pl.Map):
        return {k: _json_nulls(v, dtype.value) for k, v in value.items()}
    if dtype.is_float() and value in _NON_FINITE:
        return None
    return value


def _expected_for(fmt: str, value: Any, dtype: pl.DataType) -> Any:
    if fmt in JSON_RECORDS or (fmt in JSON_OBJECTS and dtype.is_nested()):
        value = _json_nulls(value, dtype)
    # Markdown's documented contract: an empty string is an empty cell, read as null.
    return None if fmt == "markdown" and value == "" else value


def _check_read_back(
    fmt: str, plan: ExportPlan, chunks: list[bytes], expected: dict[str, list[Any]], rows: int
) -> None:
    records = [r for chunk in chunks for r in READERS[fmt](chunk, plan.schema)]
    assert len(records) == rows
    for name, dtype in plan.schema.items():
        got = [r[name] for r in records]
        want = [_expected_for(fmt, v, dtype) for v in expected[name][:rows]]
        assert got == want, name


FAMILIES = {case.name: list(case.columns()) for case in CASES}


@pytest.mark.parametrize("name", list(FAMILIES))
@pytest.mark.parametrize("fmt", FORMATS)
def test_each_type_is_refused_at_planning_or_reads_back_the_same(
    fmt: str, name: str, sources: dict[str, Path], expected: dict[str, list[Any]], tmp_path: Path
) -> None:
    columns = _accepted(tmp_path, sources[name], fmt, FAMILIES[name])
    if not columns:
        return
    plan, chunks = _export(tmp_path, sources[name], fmt, columns)
    assert len(chunks) == 3  # 8 rows in chunks of at most 3
    _check_read_back(fmt, plan, chunks, expected, 8)


@pytest.mark.parametrize("fmt", FORMATS)
def test_zero_rows_export_and_read_back_empty(
    fmt: str, sources: dict[str, Path], expected: dict[str, list[Any]], tmp_path: Path
) -> None:
    columns = [c for columns in FAMILIES.values() for c in columns]
    columns = [c for c in columns if (fmt, family(c)) not in REFUSED]
    plan, chunks = _export(tmp_path, sources["empty"], fmt, columns)
    _check_read_back(fmt, plan, chunks, expected, 0)


@pytest.mark.parametrize(
    ("fmt", "compression"),
    [("jsonl", "zstd"), ("parquet", "zstd"), ("csv", "gzip"), ("yaml", "zip")],
)
def test_compressed_exports_read_back_the_same(
    fmt: str,
    compression: str,
    sources: dict[str, Path],
    expected: dict[str, list[Any]],
    tmp_path: Path,
) -> None:
    columns = [c for columns in FAMILIES.values() for c in columns]
    columns = [c for c in columns if (fmt, family(c)) not in REFUSED]
    plan, chunks = _export(tmp_path, sources["rows"], fmt, columns, compression)
    _check_read_back(fmt, plan, chunks, expected, 8)
