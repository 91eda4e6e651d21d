"""build_plan without a daemon: every field is checked before any I/O, and a good spec
becomes a plan whose source, query, codecs, chunking and names are what was asked."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from sluice.server.errors import InvalidArgument
from sluice.server.pipeline.source import ROW_INDEX, scan
from sluice.server.planning.plan import ExportPlan, build_plan, check_request_id
from sluice.server.planning.spec import (
    ChunkingSpec,
    DestinationSpec,
    ExportSpec,
    OutputSpec,
    QuerySpec,
    SourceSpec,
    TimeRange,
)
from sluice.server.settings import Settings, load_settings

EXPORT_ID = "20250101T000000Z-0123456789ab"


class World:
    """A state folder with one source root and one export root, and settings for them."""

    def __init__(self, root: Path, **settings: Any) -> None:
        self.root = root
        self.sources = root / "sources"
        self.exports = root / "exports"
        self.sources.mkdir(parents=True, exist_ok=True)
        self.exports.mkdir(parents=True, exist_ok=True)
        self.settings: Settings = load_settings(
            None,
            {
                "state_dir": root / "state",
                "allowed_roots": [self.exports],
                "allowed_source_roots": [self.sources],
                **settings,
            },
            environ={},
        )

    def spec(self, source: Path | str, **fields: Any) -> ExportSpec:
        source_format = fields.pop("source_format", "")
        destination = fields.pop("to", str(self.exports))
        dataset = fields.pop("dataset", "events")
        return ExportSpec(
            source=SourceSpec(str(source), source_format),
            destination=DestinationSpec(destination, dataset),
            **fields,
        )

    def plan(self, source: Path | str, **fields: Any) -> ExportPlan:
        return build_plan(self.spec(source, **fields), self.settings, EXPORT_ID, owner="")

    def rejected(self, source: Path | str, **fields: Any) -> InvalidArgument:
        with pytest.raises(InvalidArgument) as raised:
            self.plan(source, **fields)
        assert len(raised.value.violations) == 1
        return raised.value


FRAME = pl.DataFrame(
    {
        "id": [1, 2, 3, 4],
        "sid": ["a", "b", "c", "d"],
        "amount": [1.5, 2.5, 3.5, 4.5],
        "naive": [
            datetime(2024, 1, 1, 23, 0),
            datetime(2024, 1, 2, 0, 0),
            datetime(2024, 1, 2, 1, 0),
            datetime(2024, 1, 3, 0, 0),
        ],
    }
).with_columns(
    berlin=pl.col("naive")
    .dt.replace_time_zone("UTC")
    .dt.convert_time_zone("Europe/Berlin")
    .dt.cast_time_unit("ns"),
    millis=pl.col("naive").dt.cast_time_unit("ms"),
    day=pl.col("naive").dt.date(),
)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


@pytest.fixture
def table(world: World) -> Path:
    path = world.sources / "table.parquet"
    FRAME.write_parquet(path)
    return path


def _rows(plan: ExportPlan) -> list[int]:
    """The ids a plan's query selects, read through the real scan."""
    return plan.query.apply(scan(plan.source)).collect().get_column("id").to_list()


# --- source formats ------------------------------------------------------------------

_WRITERS: dict[str, Callable[[pl.DataFrame, Path], None]] = {
    "parquet": lambda f, p: f.write_parquet(p),
    "csv": lambda f, p: f.write_csv(p),
    "tsv": lambda f, p: f.write_csv(p, separator="\t"),
    "ndjson": lambda f, p: f.write_ndjson(p),
    "ipc": lambda f, p: f.write_ipc(p),
}


@pytest.mark.parametrize(
    ("name", "writer", "expected"),
    [
        ("t.parquet", "parquet", "parquet"),
        ("t.PQ", "parquet", "parquet"),
        ("t.csv", "csv", "csv"),
        ("t.tsv", "tsv", "csv"),
        ("t.ndjson", "ndjson", "ndjson"),
        ("t.jsonl", "ndjson", "ndjson"),
        ("t.arrow", "ipc", "ipc"),
        ("t.ipc", "ipc", "ipc"),
        ("t.feather", "ipc", "ipc"),
    ],
)
def test_source_format_is_inferred_from_the_extension(
    world: World, name: str, writer: str, expected: str
) -> None:
    small = pl.DataFrame({"id": [1, 2, 3], "word": ["x", "y", "z"]})
    path = world.sources / name
    _WRITERS[writer](small, path)

    plan = world.plan(path)

    assert plan.source.format == expected
    assert plan.source.files == (str(path),)
    assert plan.schema.names() == ["id", "word"]
    read = plan.query.apply(scan(plan.source)).collect()
    assert read.get_column(ROW_INDEX).to_list() == [0, 1, 2]
    assert read.drop(ROW_INDEX).equals(small)


@pytest.mark.parametrize(
    ("requested", "writer", "expected"),
    [
        ("parquet", "parquet", "parquet"),
        ("CSV", "csv", "csv"),
        ("ndjson", "ndjson", "ndjson"),
        ("jsonl", "ndjson", "ndjson"),
        ("arrow", "ipc", "ipc"),
        ("ipc", "ipc", "ipc"),
    ],
)
def test_explicit_source_format_beats_the_extension(
    world: World, requested: str, writer: str, expected: str
) -> None:
    path = world.sources / "dump.bin"
    _WRITERS[writer](pl.DataFrame({"id": [7, 8]}), path)

    plan = world.plan(path, source_format=requested)

    assert plan.source.format == expected
    assert _rows(plan) == [7, 8]


def test_unknown_extension_without_a_format_is_rejected(world: World) -> None:
    path = world.sources / "dump.bin"
    FRAME.write_parquet(path)
    error = world.rejected(path)
    assert error.violations[0].field == "spec.source.format"
    assert "set it explicitly" in error.message


def test_glob_mixing_formats_is_rejected(world: World) -> None:
    FRAME.write_parquet(world.sources / "a.parquet")
    FRAME.write_csv(world.sources / "b.csv")
    assert world.rejected(world.sources / "*").violations[0].field == "spec.source.format"


def test_unknown_source_format_is_rejected(world: World, table: Path) -> None:
    error = world.rejected(table, source_format="xlsx")
    assert error.violations[0].field == "spec.source.format"
    assert "xlsx" in error.message


@pytest.mark.parametrize(
    ("extension", "writer"),
    [("parquet", "parquet"), ("csv", "csv"), ("jsonl", "ndjson"), ("arrow", "ipc")],
)
def test_glob_is_read_in_sorted_order_with_continuous_row_positions(
    world: World, extension: str, writer: str
) -> None:
    # Written out of order, in nested folders, so neither creation order nor a
    # directory listing could produce the sorted result by accident.
    names = [f"b/2.{extension}", f"a/10.{extension}", f"b/1.{extension}", f"a/09.{extension}"]
    for number, name in enumerate(names):
        path = world.sources / "parts" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        _WRITERS[writer](pl.DataFrame({"id": [number * 10, number * 10 + 1]}), path)
    (world.sources / "parts" / "a" / "notes.txt").write_text("not a match")

    plan = world.plan(world.sources / "parts" / "**" / f"*.{extension}")

    expected = sorted(str(world.sources / "parts" / n) for n in names)
    assert list(plan.source.files) == expected
    read = plan.query.apply(scan(plan.source)).collect()
    assert read.get_column(ROW_INDEX).to_list() == list(range(8))
    by_file = {str(world.sources / "parts" / n): i for i, n in enumerate(names)}
    expected_ids = [v for f in expected for v in (by_file[f] * 10, by_file[f] * 10 + 1)]
    assert read.get_column("id").to_list() == expected_ids


def test_file_url_source_is_accepted(world: World, table: Path) -> None:
    plan = world.plan(f"file://{table}")
    assert plan.source.files == (str(table),)
    assert plan.source.describe() == {"uri": f"file://{table}", "format": "parquet", "files": 1}


def test_source_described_without_credentials(world: World, table: Path) -> None:
    plan = world.plan(table)
    plan_with_url = replace(plan.source, uri="s3://user:hunter2@bucket/key.parquet")
    described = plan_with_url.describe()
    assert described["uri"] == "s3://(credentials removed)@bucket/key.parquet"
    assert "hunter2" not in repr(described)


def test_bad_sources_name_the_uri(world: World, table: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    FRAME.write_parquet(outside / "x.parquet")
    (world.sources / "escape.parquet").symlink_to(outside / "x.parquet")
    (world.sources / "escape-dir").symlink_to(outside)
    (world.sources / "folder.parquet").mkdir()
    (world.sources / "garbage.parquet").write_bytes(b"this is not parquet at all")
    pl.DataFrame().write_parquet(world.sources / "empty.parquet")
    cases = {
        "empty": "",
        "blank": "   ",
        "missing": str(world.sources / "missing.parquet"),
        "glob matching nothing": str(world.sources / "*.csv"),
        "outside": str(outside / "x.parquet"),
        "dot-dot": str(world.sources / ".." / "outside" / "x.parquet"),
        "symlink escaping": str(world.sources / "escape.parquet"),
        "glob through a symlinked folder": str(world.sources / "escape-dir" / "*.parquet"),
        "a directory": str(world.sources / "folder.parquet"),
        "unreadable": str(world.sources / "garbage.parquet"),
        "no columns": str(world.sources / "empty.parquet"),
    }
    failures = []
    for name, uri in cases.items():
        try:
            world.plan(uri)
        except InvalidArgument as exc:
            if [v.field for v in exc.violations] != ["spec.source.uri"]:
                failures.append(f"{name}: {exc.violations}")
        else:
            failures.append(f"{name}: accepted")
    assert not failures, failures


# --- query -----------------------------------------------------------------------------


def test_columns_default_to_all_and_keep_the_requested_order(world: World, table: Path) -> None:
    assert world.plan(table).schema.names() == FRAME.columns
    plan = world.plan(table, query=QuerySpec(columns=("amount", "id")))
    assert plan.query.columns == ("amount", "id")
    assert plan.schema == pl.Schema({"amount": pl.Float64, "id": pl.Int64})
    read = plan.query.apply(scan(plan.source)).collect()
    assert read.columns == [ROW_INDEX, "amount", "id"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (QuerySpec(columns=("id", "nope")), "spec.query.columns"),
        (QuerySpec(columns=("id", "id")), "spec.query.columns"),
        (QuerySpec(columns=(ROW_INDEX,)), "spec.query.columns"),
        (QuerySpec(where="amount >"), "spec.query.where"),
        (QuerySpec(where="1=1; DROP TABLE x"), "spec.query.where"),
        (QuerySpec(where="id IN (SELECT 1)"), "spec.query.where"),
        (QuerySpec(where="id IN (select id from t)"), "spec.query.where"),
        (QuerySpec(where="nope > 1"), "spec.query.where"),
        (QuerySpec(where=f"{ROW_INDEX} > 1"), "spec.query.where"),
        (QuerySpec(where="amount > 'abc'"), "spec.query.where"),
        (QuerySpec(where="amount + 1"), "spec.query.where"),
        (QuerySpec(ids=("abc",)), "spec.query.ids"),
        (QuerySpec(ids=("1",), id_column="nope"), "spec.query.id_column"),
        (QuerySpec(ids=("1",), id_column=ROW_INDEX), "spec.query.id_column"),
    ],
)
def test_bad_queries_name_their_field(
    world: World, table: Path, query: QuerySpec, field: str
) -> None:
    assert world.rejected(table, query=query).violations[0].field == field


def test_where_with_select_inside_a_string_literal_is_allowed(world: World, table: Path) -> None:
    plan = world.plan(table, query=QuerySpec(where="sid <> 'select' AND amount > 2"))
    assert _rows(plan) == [2, 3, 4]


def test_where_filters_rows(world: World, table: Path) -> None:
    assert _rows(world.plan(table, query=QuerySpec(where="amount > 2 AND id < 4"))) == [2, 3]


def test_ids_match_string_and_integer_columns(world: World, table: Path) -> None:
    assert _rows(world.plan(table, query=QuerySpec(ids=("4", "1", "99")))) == [1, 4]
    by_text = world.plan(table, query=QuerySpec(ids=("c", "a", "zz"), id_column="sid"))
    assert _rows(by_text) == [1, 3]
    # An empty id_column means the default, "id".
    assert _rows(world.plan(table, query=QuerySpec(ids=("2",), id_column=""))) == [2]


def test_all_query_parts_combine(world: World, table: Path) -> None:
    query = QuerySpec(
        where="amount > 1",
        ids=("1", "2", "3"),
        time_range=TimeRange("naive", since=datetime(2024, 1, 2, tzinfo=UTC)),
    )
    assert _rows(world.plan(table, query=query)) == [2, 3]


# --- time ranges -----------------------------------------------------------------------

_JAN2 = datetime(2024, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("time_range", "field"),
    [
        (TimeRange("naive", since=_JAN2, until=_JAN2), "spec.query.time_range"),
        (
            TimeRange("naive", since=_JAN2, until=_JAN2 - timedelta(microseconds=1)),
            "spec.query.time_range",
        ),
        # The same instant spelled in two zones is still an empty range.
        (
            TimeRange(
                "naive",
                since=_JAN2,
                until=datetime(2024, 1, 2, 1, tzinfo=timezone(timedelta(hours=1))),
            ),
            "spec.query.time_range",
        ),
        (TimeRange("naive"), "spec.query.time_range"),
        (TimeRange("nope", since=_JAN2), "spec.query.time_range.column"),
        (TimeRange(ROW_INDEX, since=_JAN2), "spec.query.time_range.column"),
        (TimeRange("sid", since=_JAN2), "spec.query.time_range.column"),
        (TimeRange("amount", until=_JAN2), "spec.query.time_range.column"),
    ],
)
def test_bad_time_ranges_name_their_field(
    world: World, table: Path, time_range: TimeRange, field: str
) -> None:
    error = world.rejected(table, query=QuerySpec(time_range=time_range))
    assert error.violations[0].field == field


@pytest.mark.parametrize("column", ["sid", "amount"])
def test_a_time_range_on_a_column_that_is_not_a_date_names_the_column(
    world: World, table: Path, column: str
) -> None:
    """A named source's time_column comes from the server's config, so the caller never
    wrote it: the message named only the field, not the column."""
    error = world.rejected(table, query=QuerySpec(time_range=TimeRange(column, since=_JAN2)))
    assert f"column '{column}' is" in error.message
    assert "not a Date or Datetime column" in error.message


@pytest.mark.parametrize("column", ["naive", "millis", "berlin"])
def test_time_range_on_datetime_columns_compares_instants_in_utc(
    world: World, table: Path, column: str
) -> None:
    """Naive columns hold UTC; a zoned column in any zone or unit compares the instant."""
    plus_one = timezone(timedelta(hours=1))
    both = TimeRange(column, since=_JAN2, until=datetime(2024, 1, 3, 0, 30, tzinfo=plus_one))
    assert _rows(world.plan(table, query=QuerySpec(time_range=both))) == [2, 3]
    since_only = TimeRange(column, since=datetime(2024, 1, 2, 0, 0, 1, tzinfo=UTC))
    assert _rows(world.plan(table, query=QuerySpec(time_range=since_only))) == [3, 4]
    until_only = TimeRange(column, until=_JAN2)
    assert _rows(world.plan(table, query=QuerySpec(time_range=until_only))) == [1]
    # A bound in another zone is the same instant: 01:00+01:00 is midnight UTC.
    shifted = TimeRange(column, since=datetime(2024, 1, 2, 1, tzinfo=plus_one))
    assert _rows(world.plan(table, query=QuerySpec(time_range=shifted))) == [2, 3, 4]


@pytest.mark.parametrize("column", ["naive", "millis", "berlin", "day"])
def test_naive_bounds_are_taken_as_utc(world: World, table: Path, column: str) -> None:
    naive = TimeRange(column, since=datetime(2024, 1, 2), until=datetime(2024, 1, 3))
    aware = TimeRange(column, since=_JAN2, until=datetime(2024, 1, 3, tzinfo=UTC))
    assert _rows(world.plan(table, query=QuerySpec(time_range=naive))) == [2, 3]
    assert _rows(world.plan(table, query=QuerySpec(time_range=aware))) == [2, 3]


def test_time_range_on_a_date_column_includes_every_day_it_touches(
    world: World, table: Path
) -> None:
    # FRAME's days: id 1 -> Jan 1, ids 2 and 3 -> Jan 2, id 4 -> Jan 3.
    def days(since: datetime | None, until: datetime | None) -> list[int]:
        plan = world.plan(table, query=QuerySpec(time_range=TimeRange("day", since, until)))
        return _rows(plan)

    at = lambda d, h=0: datetime(2024, 1, d, h, tzinfo=UTC)  # noqa: E731
    assert days(at(2), at(3)) == [2, 3]
    assert days(at(2), None) == [2, 3, 4]
    assert days(None, at(2)) == [1]
    # A bound inside a day keeps that day: since rounds down, a mid-day until up.
    assert days(at(1, 12), at(2)) == [1]
    assert days(at(2), at(2, 12)) == [2, 3]
    assert days(at(2, 6), at(2, 18)) == [2, 3]
    # Bounds in another zone are converted to UTC days first.
    tokyo = timezone(timedelta(hours=9))
    assert days(datetime(2024, 1, 3, 8, tzinfo=tokyo), datetime(2024, 1, 3, 9, tzinfo=tokyo)) == [
        2,
        3,
    ]
    assert FRAME.get_column("day").to_list()[1] == date(2024, 1, 2)


# --- destination, labels, request ids --------------------------------------------------


@pytest.mark.parametrize("dataset", ["a", "events", "Events.v2", "a_b-c.d", "0day", "x" * 128])
def test_good_dataset_names(world: World, table: Path, dataset: str) -> None:
    plan = world.plan(table, dataset=dataset)
    assert plan.prefix == f"{dataset}/{EXPORT_ID}"


@pytest.mark.parametrize(
    "dataset", ["", ".", "..", ".hidden", "-dash", "_under", "a/b", "a\\b", "a b", "é", "x" * 129]
)
def test_bad_dataset_names(world: World, table: Path, dataset: str) -> None:
    assert world.rejected(table, dataset=dataset).violations[0].field == "spec.destination.dataset"


def test_destinations(world: World, table: Path, tmp_path: Path) -> None:
    assert world.plan(table).destination == str(world.exports.resolve())
    nested = world.exports / "team" / "not-yet-created"
    assert world.plan(table, to=str(nested)).destination == str(nested.resolve())
    assert world.plan(table, to=f"file://{world.exports}").destination == str(
        world.exports.resolve()
    )
    # Remote destinations are not confined to local roots; they are passed on as given.
    assert world.plan(table, to="s3://bucket/prefix").destination == "s3://bucket/prefix"
    assert not nested.exists(), "planning must not create anything"


def test_bad_destinations_name_the_uri(world: World, table: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (world.exports / "link-out").symlink_to(outside)
    cases = {
        "empty": "",
        "blank": "  ",
        "outside": str(outside),
        "dot-dot": str(world.exports / ".." / "outside"),
        "the state folder": str(world.root / "state"),
        "symlink out": str(world.exports / "link-out"),
        "file URL naming a host": f"file://elsewhere{world.exports}",
        "file URL with a query": f"file://{world.exports}?x=1",
        # Only local folders, S3 and Azure are allowed (sinks.locations).
        "memory": "memory://tests",
        "fsspec local": f"local://{world.exports}",
        "http": "http://127.0.0.1:9/x",
        "ftp": "ftp://127.0.0.1/x",
        "sftp": "sftp://127.0.0.1/x",
        "chained": f"simplecache::file://{world.exports}",
    }
    failures = []
    for name, uri in cases.items():
        try:
            world.plan(table, to=uri)
        except InvalidArgument as exc:
            if [v.field for v in exc.violations] != ["spec.destination.uri"]:
                failures.append(f"{name}: {exc.violations}")
        else:
            failures.append(f"{name}: accepted")
    assert not failures, failures
    assert sorted(os.listdir(world.exports)) == ["link-out"]
    assert list(outside.iterdir()) == []


def test_the_export_root_itself_is_a_valid_destination(world: World, table: Path) -> None:
    # The dataset folder is what lands inside the root.
    assert world.plan(table, to=str(world.exports), dataset="d").destination == str(
        world.exports.resolve()
    )


def test_default_roots_live_in_the_state_folder(tmp_path: Path) -> None:
    settings = load_settings(None, {"state_dir": tmp_path / "state"}, environ={})
    sources = tmp_path / "state" / "sources"
    sources.mkdir(parents=True)
    FRAME.write_parquet(sources / "t.parquet")
    spec = ExportSpec(
        SourceSpec(str(sources / "t.parquet")),
        DestinationSpec(str(tmp_path / "state" / "exports"), "events"),
    )
    assert build_plan(spec, settings, EXPORT_ID, owner="").source.files == (
        str(sources / "t.parquet"),
    )
    elsewhere = replace(spec, destination=DestinationSpec(str(tmp_path / "x"), "events"))
    with pytest.raises(InvalidArgument) as raised:
        build_plan(elsewhere, settings, EXPORT_ID, owner="")
    assert raised.value.violations[0].field == "spec.destination.uri"


def test_labels(world: World, table: Path) -> None:
    many = tuple((f"k{i}", "v") for i in range(64))
    assert world.plan(table, labels=many).spec.labels == many
    assert world.plan(table, labels=(("team.name_x-1", "v" * 256),))

    assert world.rejected(table, labels=(*many, ("k64", "v"))).violations[0].field == "spec.labels"
    cases = {
        "Upper": "spec.labels[Upper]",
        "has space": "spec.labels[has space]",
        "_leading": "spec.labels[_leading]",
        "": "spec.labels[]",
        "k" * 64: f"spec.labels[{'k' * 64}]",
    }
    for key, field in cases.items():
        assert world.rejected(table, labels=((key, "v"),)).violations[0].field == field
    long_value = world.rejected(table, labels=(("ok", "v" * 257),))
    assert long_value.violations[0].field == "spec.labels[ok]"
    assert "v" * 257 not in long_value.message


def test_request_ids() -> None:
    check_request_id("")
    check_request_id("retry-7f3a" * 12)
    for bad in ("x" * 129, "line\nbreak", "tab\there", "nul\0"):
        with pytest.raises(InvalidArgument) as raised:
            check_request_id(bad)
        assert raised.value.violations[0].field == "request_id"


# --- output codecs and levels ----------------------------------------------------------


@pytest.mark.parametrize(
    ("compression", "level"), [("", 3), ("zstd", 3), ("ZSTD", 3), ("gzip", 6), ("none", 0)]
)
def test_level_defaults_per_codec(world: World, table: Path, compression: str, level: int) -> None:
    plan = world.plan(table, output=OutputSpec(compression=compression))
    assert plan.compressor.name == (compression.lower() or "zstd")
    assert plan.level == level


@pytest.mark.parametrize(
    ("compression", "level", "ok"),
    [
        ("zstd", 1, True),
        ("zstd", 22, True),
        ("zstd", 0, False),
        ("zstd", 23, False),
        ("zstd", -1, False),
        ("gzip", 1, True),
        ("gzip", 9, True),
        ("gzip", 0, False),
        ("gzip", 10, False),
        ("none", 0, False),
        ("none", 3, False),
    ],
)
def test_explicit_levels(world: World, table: Path, compression: str, level: int, ok: bool) -> None:
    output = OutputSpec(compression=compression, level=level)
    if ok:
        assert world.plan(table, output=output).level == level
    else:
        assert world.rejected(table, output=output).violations[0].field == "spec.output.level"


@pytest.mark.parametrize(
    ("output", "field"),
    [
        (OutputSpec(format="toml"), "spec.output.format"),
        (OutputSpec(format="ndjson"), "spec.output.format"),
        (OutputSpec(compression="lz77"), "spec.output.compression"),
        (OutputSpec(compression="brotli"), "spec.output.compression"),
    ],
)
def test_unknown_output_names(world: World, table: Path, output: OutputSpec, field: str) -> None:
    error = world.rejected(table, output=output)
    assert error.violations[0].field == field
    assert "expected one of" in error.message


def test_pickle_is_refused_with_the_reason_and_safe_alternatives(world: World, table: Path) -> None:
    error = world.rejected(table, output=OutputSpec(format="Pickle"))
    assert error.violations[0].field == "spec.output.format"
    assert "runs code" in error.message
    assert "arrow" in error.message and "parquet" in error.message


@pytest.mark.parametrize(
    ("name", "extension"), [("xml", "xml"), ("yaml", "yaml"), ("markdown", "md")]
)
def test_text_formats_for_people_and_interchange(
    world: World, table: Path, name: str, extension: str
) -> None:
    plan = world.plan(table, output=OutputSpec(format=name.upper()))
    assert (plan.encoder.name, plan.encoder.extension) == (name, extension)
    assert plan.pipeline.chunk_key(0).endswith(f".{extension}.zst")


def test_output_names_are_case_insensitive_and_default(world: World, table: Path) -> None:
    plan = world.plan(table, output=OutputSpec(format="", compression=""))
    assert (plan.encoder.name, plan.compressor.name) == ("jsonl", "zstd")
    plan = world.plan(table, output=OutputSpec(format="Parquet", compression="GZIP"))
    assert (plan.encoder.name, plan.compressor.name) == ("parquet", "gzip")


def test_first_bad_field_wins_and_source_is_checked_after_output(world: World) -> None:
    # Both the format and the (missing) source are wrong: the cheap check reports first.
    error = world.rejected(world.sources / "missing.parquet", output=OutputSpec(format="toml"))
    assert error.violations[0].field == "spec.output.format"


# --- chunking --------------------------------------------------------------------------


def test_chunk_defaults_come_from_settings(tmp_path: Path) -> None:
    stock = World(tmp_path / "stock")
    FRAME.write_parquet(stock.sources / "t.parquet")
    plan = stock.plan(stock.sources / "t.parquet")
    assert (plan.chunk_target_bytes, plan.chunk_max_rows) == (64 * 1024 * 1024, 1_000_000)

    tuned = World(tmp_path / "tuned", default_chunk_bytes=4096, default_chunk_rows=10)
    FRAME.write_parquet(tuned.sources / "t.parquet")
    plan = tuned.plan(tuned.sources / "t.parquet")
    assert (plan.chunk_target_bytes, plan.chunk_max_rows) == (4096, 10)
    plan = tuned.plan(tuned.sources / "t.parquet", chunking=ChunkingSpec(2048, 3))
    assert (plan.chunk_target_bytes, plan.chunk_max_rows) == (2048, 3)
    # Each field defaults on its own.
    plan = tuned.plan(tuned.sources / "t.parquet", chunking=ChunkingSpec(max_rows=3))
    assert (plan.chunk_target_bytes, plan.chunk_max_rows) == (4096, 3)
    plan = tuned.plan(tuned.sources / "t.parquet", chunking=ChunkingSpec(target_bytes=2048))
    assert (plan.chunk_target_bytes, plan.chunk_max_rows) == (2048, 10)


def test_chunk_limits(tmp_path: Path) -> None:
    world = World(tmp_path, max_chunk_bytes=1 << 20, default_chunk_bytes=4096)
    FRAME.write_parquet(world.sources / "t.parquet")
    source = world.sources / "t.parquet"
    for good in (ChunkingSpec(1024, 1), ChunkingSpec(1 << 20, 100_000_000)):
        plan = world.plan(source, chunking=good)
        assert (plan.chunk_target_bytes, plan.chunk_max_rows) == (
            good.target_bytes,
            good.max_rows,
        )
    bad = {
        ChunkingSpec(target_bytes=1023): "spec.chunking.target_bytes",
        ChunkingSpec(target_bytes=-5): "spec.chunking.target_bytes",
        ChunkingSpec(target_bytes=(1 << 20) + 1): "spec.chunking.target_bytes",
        ChunkingSpec(target_bytes=0): "spec.chunking.target_bytes",
        ChunkingSpec(max_rows=0): "spec.chunking.max_rows",
        ChunkingSpec(max_rows=-1): "spec.chunking.max_rows",
        ChunkingSpec(max_rows=100_000_001): "spec.chunking.max_rows",
    }
    for chunking, field in bad.items():
        assert world.rejected(source, chunking=chunking).violations[0].field == field


# --- names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "compression", "name"),
    [
        ("jsonl", "zstd", "part-000000.jsonl.zst"),
        ("jsonl", "gzip", "part-000000.jsonl.gz"),
        ("jsonl", "none", "part-000000.jsonl"),
        ("csv", "gzip", "part-000000.csv.gz"),
        ("json", "zstd", "part-000000.json.zst"),
        ("arrow", "zstd", "part-000000.arrow.zst"),
        ("arrow", "none", "part-000000.arrow"),
        # Parquet compresses inside the file, so no outer extension.
        ("parquet", "zstd", "part-000000.parquet"),
        ("parquet", "gzip", "part-000000.parquet"),
        ("parquet", "none", "part-000000.parquet"),
    ],
)
def test_chunk_names(world: World, table: Path, fmt: str, compression: str, name: str) -> None:
    plan = world.plan(table, output=OutputSpec(format=fmt, compression=compression))
    assert plan.pipeline.chunk_name(0) == name
    assert plan.pipeline.chunk_name(12) == name.replace("000000", "000012")
    assert plan.pipeline.chunk_name(1_234_567).startswith("part-1234567.")
    assert plan.pipeline.chunk_key(3) == f"events/{EXPORT_ID}/{name.replace('000000', '000003')}"
    assert plan.manifest_key == f"events/{EXPORT_ID}/manifest.json"
    assert plan.prefix == f"events/{EXPORT_ID}"


def test_planning_writes_nothing(world: World, table: Path) -> None:
    before = sorted(p.relative_to(world.root) for p in world.root.rglob("*"))
    world.plan(table, to=str(world.exports / "new"), output=OutputSpec(format="parquet"))
    after = sorted(p.relative_to(world.root) for p in world.root.rglob("*"))
    assert before == after


def test_sample_data_plans_with_every_column(world: World) -> None:
    from sluice.client.demo_data import generate

    path = generate(world.sources / "events.csv", 50, format="csv")
    plan = world.plan(path, query=QuerySpec(where="amount > 0", columns=("id", "created_at")))
    assert plan.source.format == "csv"
    assert plan.schema.names() == ["id", "created_at"]
    assert isinstance(plan.schema["created_at"], pl.Datetime)
    assert _rows(plan) == list(range(50))


@pytest.mark.parametrize(
    ("frame", "named"),
    [
        (pl.DataFrame({"id": [1, 2], "*": [3, 4]}), "'*'"),
        (pl.DataFrame({"id": [1, 2], "^id.*$": [3, 4]}), "'^id.*$'"),
        (pl.DataFrame({"id": [1], "device": [{"os": "x", "*": 1}]}), "'device.*'"),
        (pl.DataFrame({"id": [1], "tags": [[{"^a$": 1}]]}), "'tags[].^a$'"),
    ],
)
def test_a_column_that_polars_would_read_as_a_pattern_is_refused_by_name(
    world: World, frame: pl.DataFrame, named: str
) -> None:
    """Polars reads the name `*` as every column and `^...$` as a regular expression
    wherever a column is named in an expression: an XML export of a column `*` wrote
    every column's value in it, and a struct field `*` made Polars panic. Refused at
    planning, naming the column, before anything is written."""
    source = world.sources / "odd.parquet"
    frame.write_parquet(source)
    error = world.rejected(source)
    assert error.violations[0].field == "spec.source.uri"
    assert named in error.violations[0].description
    assert "rename" in error.violations[0].description


def test_names_with_a_star_or_caret_inside_are_columns_like_any_other(world: World) -> None:
    source = world.sources / "fine.parquet"
    pl.DataFrame({"id": [1], "a*b": [2], "^x": [3], "y$": [4], "s": [{"f*": 1}]}).write_parquet(
        source
    )
    assert world.plan(source).schema.names() == ["id", "a*b", "^x", "y$", "s"]


@pytest.mark.parametrize(
    "dtype",
    [pl.List(pl.Binary), pl.Struct({"raw": pl.Binary}), pl.List(pl.Struct({"raw": pl.Binary}))],
)
@pytest.mark.parametrize("fmt", ["jsonl", "csv", "markdown"])
def test_bytes_inside_a_list_or_struct_are_refused_for_a_format_without_bytes(
    world: World, dtype: pl.DataType, fmt: str
) -> None:
    """Only a top-level bytes column was looked at: bytes inside a list or struct reached
    the encoder, and Polars' JSON writer panicked mid-export."""
    source = world.sources / "nested-bytes.parquet"
    value = b"\xff\x00"
    values = [[value]] if isinstance(dtype, pl.List) else [{"raw": value}]
    if dtype == pl.List(pl.Struct({"raw": pl.Binary})):
        values = [[{"raw": value}]]
    pl.DataFrame({"id": [1], "payload": pl.Series(values, dtype=dtype)}).write_parquet(source)
    error = world.rejected(source, output=OutputSpec(fmt))
    assert error.violations[0].field == "spec.output.format"
    assert "'payload' holds bytes" in error.violations[0].description


@pytest.mark.parametrize("fmt", ["xml", "yaml", "parquet"])
def test_bytes_go_to_the_formats_that_hold_them(world: World, fmt: str) -> None:
    source = world.sources / "bytes.parquet"
    pl.DataFrame(
        {"id": [1], "raw": [b"\xff"], "listed": pl.Series([[b"a"]], dtype=pl.List(pl.Binary))}
    ).write_parquet(source)
    assert world.plan(source, output=OutputSpec(fmt)).schema.names() == ["id", "raw", "listed"]
