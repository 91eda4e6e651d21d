"""Each file of a Parquet, Arrow IPC or CSV glob checked against the schema the export
was planned with (from the first file), when the file is opened and before any of its
rows is read.

Without it a later file was cut to the first file's columns and cast to its types
without a word: a column added upstream was never exported, night after night; a float
2.7 in a column the first file had as integers was exported as 2; a number became text.
Now the file fails the export (FAILED_PRECONDITION) naming itself and the columns that
differ, unless nothing is lost:

- a column the file has and the plan lacks is fine when the caller chose the columns
  (spec.query.columns), else it would be dropped (declaring some columns' types in
  spec.source.schema says nothing of leaving the others out);
- a column the export reads that the file lacks always fails;
- a type is fine when it converts without loss: the same type, a null column, a wider
  integer or float, an integer a float holds exactly (Parquet: every row group's
  minimum and maximum within the float's mantissa), a finer time unit (a top-level
  column's values checked against its shorter span: narrowed_values), text as
  categories, a list, array or struct of such types. A declared type governs (its
  column is not compared). CSV files are compared by their header only: their values
  are parsed with the plan's types;
- a type narrower only in form (nanoseconds planned as microseconds, floats as
  integers, integers beyond a float's mantissa) is accepted, and its values are checked
  as its batches are converted (narrowed_values): the file fails only at a value that
  would change;
- a column of a type Polars cannot hold fails with unreadable_columns' message.

A glob's Parquet and IPC footers are compared by the reader's survey (survey_files),
before its first row, so a differing file fails the export before any chunk is written.

NDJSON files are not compared here: they have their own late-field rule (ndjson_fields).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import IO, TYPE_CHECKING

import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from sluice.server.errors import quoted, quoted_list
from sluice.server.pipeline.bad_rows import SourceDataError
from sluice.server.pipeline.empty_tables import empty_table
from sluice.server.pipeline.fixed_offsets import utc_schema
from sluice.server.pipeline.narrowed_values import (
    MANTISSA,
    SIGNED,
    TIME_UNITS,
    UNSIGNED,
    NarrowedColumns,
    checkable,
    finer_paths,
    finer_unit,
)
from sluice.server.pipeline.source import ResolvedSource, file_opener
from sluice.server.pipeline.unreadable_columns import cannot_read, unreadable_column
from sluice.server.storage_errors import storage_errors

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

#: Bytes of a CSV file read for its header (a longer header is left to the reader).
_HEADER_BYTES = 1024 * 1024
_TEXT = (pl.String, pl.Categorical, pl.Enum)
#: What _loss says of a column whose values are checked as they are converted.
_CHECKED = "checked by its values"


class FileSchemaCheck:
    """What each file of a source is compared with: the planned `schema` (without the
    row position), the `columns` the export reads, whether the caller chose them
    (`every_column` False) and the columns whose type the caller `declared`."""

    def __init__(
        self,
        schema: pl.Schema,
        columns: Sequence[str],
        every_column: bool,
        declared: Collection[str],
        first_file: str,
    ) -> None:
        self.schema = schema
        self.columns = list(columns) or list(schema)
        self.extra_allowed = not every_column
        self.declared = frozenset(declared)
        self.first_file = first_file
        self._fine: dict[pa.Schema, None] = {}

    def stored(
        self, file: str, schema: pa.Schema, metadata: pq.FileMetaData | None
    ) -> NarrowedColumns | None:
        """Check a Parquet or IPC file's stored schema (`metadata`: a Parquet file's
        footer, whose statistics can spare checking its integers' values against a
        planned float). Returns the columns whose values must be checked as they are
        converted (narrowed_values), None when none."""
        schema = utc_schema(schema.remove_metadata())
        if schema in self._fine:
            return self._fine[schema]  # a glob's files mostly share one schema
        differences = self._names(schema.names)
        read = pa.schema([f for f in schema if f.name in self.columns and f.name in self.schema])
        types = _polars_types(read)
        if isinstance(types, str):
            raise SourceDataError(f"{file}: {types}")
        checked: dict[str, pl.DataType] = {}
        for name, have in types.items():
            if name in self.declared:
                continue
            planned = self.schema[name]
            loss = _loss(have, planned, name, metadata)
            if loss is _CHECKED:
                checked[name] = planned
            elif loss is not None:
                differences.append(f"column {quoted(name)} {loss}")
        if differences:
            raise self._error(file, differences)
        narrowed = NarrowedColumns(file, checked) if checked else None
        statistics = metadata is not None and _needs_statistics(types, self.schema, self.columns)
        if narrowed is None and not statistics:
            self._fine[schema] = None
        return narrowed

    def header(self, file: str, handle: IO[bytes], separator: str) -> None:
        """Check a CSV file's header (the handle is read from its start, then rewound)."""
        names = csv_header(handle, separator)
        if names is None:
            return  # not a header Arrow reads: the reader says what is wrong
        differences = self._names(names)
        if differences:
            raise self._error(file, differences)

    def _names(self, names: Sequence[str]) -> list[str]:
        have = set(names)
        differences = []
        new = [n for n in names if n not in self.schema]
        if new and not self.extra_allowed:
            differences.append(
                f"new column(s) {quoted_list(new)}, which would not be exported (choose "
                "the columns with spec.query.columns to leave them out)"
            )
        missing = [n for n in self.columns if n not in have]
        if missing:
            differences.append(f"no column {quoted_list(missing)}")
        return differences

    def _error(self, file: str, differences: list[str]) -> SourceDataError:
        return SourceDataError(
            f"{file}: its schema differs from the one the export was planned with (from "
            f"{self.first_file}): {'; '.join(differences)}; none of its rows was read"
        )


def csv_header(handle: IO[bytes], separator: str) -> list[str] | None:
    """A CSV file's column names (None: Arrow cannot read a header from its start). The
    handle is rewound."""
    handle.seek(0)
    try:
        reader = pa_csv.open_csv(
            handle,
            read_options=pa_csv.ReadOptions(block_size=_HEADER_BYTES, use_threads=False),
            # A bad row among the first is the reader's to report (or skip): not the header's.
            parse_options=pa_csv.ParseOptions(
                delimiter=separator,
                newlines_in_values=True,
                invalid_row_handler=lambda _row: "skip",
            ),
            convert_options=pa_csv.ConvertOptions(include_columns=[]),
        )
        names: list[str] | None = list(reader.schema.names)
    except (pa.ArrowException, OSError, ValueError):
        names = None
    handle.seek(0)
    return names


def differing_csv_header(source: ResolvedSource) -> SourceDataError | None:
    """The error (FAILED_PRECONDITION) naming the first file of a CSV glob whose header
    has other columns than the first file's, and how it differs; None if none differs.
    The same columns in another order are no difference (files are read by name), but
    for a name the header repeats."""
    first = source.files[0] if source.files else ""
    for path, names, first_names in _csv_headers(source):
        # A repeated name in another order: which of its columns is which is unknown.
        repeated = names != first_names and len(set(names)) < len(names)
        if repeated or sorted(names) != sorted(first_names):
            source.log_file(path)
            return SourceDataError(
                f"{source.file_shown(path)}: its columns differ from the first file's "
                f"({source.file_shown(first)}): {header_differences(first_names, names)}"
            )
    return None


def reordered_csv_headers(source: ResolvedSource) -> bool:
    """Whether a CSV glob's later headers all hold the first file's columns, and some in
    another order: what Polars' scan of them all refuses, and the reader reads by name."""
    reordered = False
    for _path, names, first_names in _csv_headers(source):
        if sorted(names) != sorted(first_names):
            return False
        reordered = reordered or names != first_names
    return reordered


def _csv_headers(source: ResolvedSource) -> Iterator[tuple[str, list[str], list[str]]]:
    """Each later file of a CSV glob with its header and the first header read (files
    whose header Arrow cannot read are left to the reader)."""
    if source.format != "csv" or len(source.files) < 2:
        return
    open_file = file_opener(source)
    separator = "\t" if source.tabs else ","
    first: list[str] | None = None
    for path in source.files:
        with storage_errors(), open_file(path) as handle:
            names = csv_header(handle, separator)
        if names is None or first is None:
            first = first or names
            continue
        yield path, names, first


def header_differences(first: Sequence[str], other: Sequence[str]) -> str:
    """How a CSV file's header differs from the first file's (column names only)."""
    new = [n for n in other if n not in first]
    missing = [n for n in first if n not in other]
    parts = []
    if new:
        parts.append(f"new column(s) {quoted_list(new)}")
    if missing:
        parts.append(f"no column {quoted_list(missing)}")
    if not parts:
        parts.append(f"a repeated name in another order ({quoted_list(other)})")
    return "; ".join(parts)


def _loss(
    have: pl.DataType, planned: pl.DataType, name: str, metadata: pq.FileMetaData | None
) -> str | None:
    """Why a value of type `have` read as `planned` could lose data; None if it cannot;
    _CHECKED if only its values say (narrowed_values)."""
    if have == planned or have == pl.Null():
        return None
    if finer_unit(have, planned):
        return _CHECKED  # a finer unit holds a shorter span of time
    if _widens(have, planned):
        # A time inside a list or struct in a finer unit: its values say (its span).
        return _CHECKED if finer_paths(have, planned) else None
    if have in SIGNED or have in UNSIGNED:
        bits = MANTISSA.get(planned)
        if bits is not None and metadata is not None and _ints_within(metadata, name, 2**bits):
            return None
    if checkable(have, planned):
        return _CHECKED
    why = "values would be cut or changed"
    if planned == pl.Null():
        why = "the first file held only nulls there, and its values would be lost"
    return f"is {have} in this file and {planned} in the export ({why})"


def _widens(have: pl.DataType, planned: pl.DataType) -> bool:
    """Whether every value of `have` is a value of `planned` (never by the data); a
    list, array or struct when its values' types are the same or widen."""
    if isinstance(have, pl.List) and isinstance(planned, pl.List):
        return _same_or_widens(have.inner, planned.inner)
    if isinstance(have, pl.Array) and isinstance(planned, pl.Array):
        return have.shape == planned.shape and _same_or_widens(have.inner, planned.inner)
    if isinstance(have, pl.Struct) and isinstance(planned, pl.Struct):
        names = [f.name for f in have.fields]
        return names == [f.name for f in planned.fields] and all(
            _same_or_widens(h.dtype, p.dtype)
            for h, p in zip(have.fields, planned.fields, strict=True)
        )
    if have in SIGNED:
        bits = SIGNED[have]
        return (planned in SIGNED and SIGNED[planned] >= bits) or (
            planned in MANTISSA and bits - 1 <= MANTISSA[planned]
        )
    if have in UNSIGNED:
        bits = UNSIGNED[have]
        return (
            (planned in UNSIGNED and UNSIGNED[planned] >= bits)
            or (planned in SIGNED and SIGNED[planned] > bits)
            or (planned in MANTISSA and bits <= MANTISSA[planned])
        )
    if have == pl.Float32():
        return planned == pl.Float64()
    if isinstance(have, _TEXT):
        return isinstance(planned, _TEXT) and not isinstance(planned, pl.Enum)
    if isinstance(have, pl.Datetime) and isinstance(planned, pl.Datetime):
        aware = (have.time_zone is None) == (planned.time_zone is None)
        return aware and _finer(have.time_unit, planned.time_unit)
    if isinstance(have, pl.Duration) and isinstance(planned, pl.Duration):
        return _finer(have.time_unit, planned.time_unit)
    if have == pl.Date():
        return isinstance(planned, pl.Datetime) and planned.time_zone is None
    if isinstance(have, pl.Decimal) and isinstance(planned, pl.Decimal):
        have_scale, planned_scale = have.scale or 0, planned.scale or 0
        have_digits, planned_digits = have.precision or 38, planned.precision or 38
        return (
            planned_scale >= have_scale
            and planned_digits - planned_scale >= have_digits - have_scale
        )
    return False


def _same_or_widens(have: PolarsDataType, planned: PolarsDataType) -> bool:
    if have == planned or have == pl.Null():
        return True
    return (
        isinstance(have, pl.DataType)
        and isinstance(planned, pl.DataType)
        and _widens(have, planned)
    )


def _polars_types(schema: pa.Schema) -> pl.Schema | str:
    """The Polars types of an Arrow schema's columns, or why one cannot be read
    (unreadable_columns' message, naming the first such column)."""
    try:
        frame = pl.from_arrow(empty_table(schema))
    except (Exception, pl.exceptions.PanicException):  # noqa: BLE001 - any refusal
        for field in schema:
            try:
                pl.from_arrow(empty_table(pa.schema([field])))
            except (Exception, pl.exceptions.PanicException):  # noqa: BLE001
                return unreadable_column(pa.schema([field])) or cannot_read(field)
        return cannot_read(schema.field(0))
    assert isinstance(frame, pl.DataFrame)
    return frame.schema


def _finer(have: str | None, planned: str | None) -> bool:
    return TIME_UNITS.index(planned or "us") >= TIME_UNITS.index(have or "us")


def _needs_statistics(types: pl.Schema, planned: pl.Schema, columns: Sequence[str]) -> bool:
    """Whether a column was found fine by its file's statistics (not by its type alone),
    so another file of the same schema must be checked by its own."""
    return any(
        name in types
        and name in planned
        and types[name] != planned[name]
        and not _widens(types[name], planned[name])
        for name in columns
    )


def _ints_within(metadata: pq.FileMetaData, name: str, bound: int) -> bool:
    """Whether every row group's statistics put column `name` within ±`bound`."""
    index = next(
        (i for i in range(metadata.num_columns) if metadata.schema.column(i).path == name),
        None,
    )
    if index is None:
        return False
    for group in range(metadata.num_row_groups):
        column = metadata.row_group(group).column(index)
        statistics = column.statistics
        if column.num_values == 0 or (
            statistics is not None and statistics.null_count == column.num_values
        ):
            continue
        if statistics is None or not statistics.has_min_max:
            return False
        low, high = statistics.min, statistics.max
        if not (isinstance(low, int) and isinstance(high, int)):
            return False
        if abs(low) > bound or abs(high) > bound:
            return False
    return True
