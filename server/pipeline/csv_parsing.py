"""How a CSV source file is parsed: Arrow's streaming parser with the plan's column
types, and, when a value does not convert, which row and column it was in."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Final

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from sluice.server.pipeline.csv_quotes import QuoteWatch
from sluice.server.pipeline.row_errors import FileRows

#: Bytes per CSV block handed to Arrow's streaming parser.
CSV_BLOCK_BYTES = 8 * 1024 * 1024
_COLUMN_NUMBER: Final = re.compile(r"In CSV column #(\d+):")


class CsvOptions:
    """How a CSV file is read: Arrow's streaming parser with the plan's column types."""

    def __init__(
        self, schema: pl.Schema, columns: Sequence[str], delimiter: str, file: str
    ) -> None:
        self.schema = schema
        self.columns = list(columns)
        self.delimiter = delimiter
        #: The file's unclosed quotes (see csv_quotes), watched by `open`.
        self.quotes = QuoteWatch(file, list(schema)[-1] if len(schema) else "")

    def open(self, handle: IO[bytes], rows: FileRows) -> Iterator[pa.RecordBatch]:
        """The file's batches, checked for unclosed quotes: a quote left open in the
        last column keeps the row's fields, so that column is read (as text) even when
        the export does not read it, and left out again once checked."""
        arrow_schema = pl.DataFrame(schema=self.schema).to_arrow().schema
        types = {f.name: f.type for f in arrow_schema}
        columns = self.columns
        last = list(self.schema)[-1] if len(self.schema) else None
        drop = bool(columns) and last is not None and last not in columns
        if drop:
            assert last is not None
            columns = [*columns, last]
            types[last] = pa.string()

        def on_invalid(row: pa_csv.InvalidRow) -> str:
            note = self.quotes.invalid_row(row)
            if self.quotes.fails:
                return "error"
            return rows.on_invalid_row(row, note)

        reader = self._reader(handle, types, columns, on_invalid)
        return self.quotes.checked(reader, handle, drop)

    def _reader(
        self,
        handle: IO[bytes],
        types: dict[str, pa.DataType],
        columns: list[str],
        on_invalid: Callable[[pa_csv.InvalidRow], str],
    ) -> pa_csv.CSVStreamingReader:
        handle.seek(0)
        return pa_csv.open_csv(
            handle,
            # One thread: Arrow then knows the line of a bad row (and on a shared
            # machine it measured faster); the pipeline overlaps stages on threads anyway.
            read_options=pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES, use_threads=False),
            parse_options=pa_csv.ParseOptions(
                delimiter=self.delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
            ),
            # Only an unquoted empty cell is null, as schema inference (Polars) reads it:
            # Arrow's default null spellings would turn "NA" (Namibia), "N/A", "null",
            # "nan" or a quoted "" into nulls, and a float "NaN" into a null.
            convert_options=pa_csv.ConvertOptions(
                column_types=types,
                include_columns=columns or None,
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=False,
            ),
        )

    def locate(self, handle: IO[bytes], error: pa.ArrowInvalid) -> tuple[str, int] | None:
        """The column and row (1-based, header excluded) of the value a conversion
        error is about, found by reading that column again as text; None if unknown."""
        column = _failed_column(error, lambda: self._header(handle))
        if column is None or column not in self.schema:
            return None
        wanted = pl.DataFrame(schema={column: self.schema[column]}).to_arrow().schema[0].type
        reader = self._reader(handle, {column: pa.string()}, [column], lambda _row: "skip")
        offset = 0
        for batch in reader:
            failed = _first_failing_cast(batch.column(0), wanted)
            if failed is not None:
                return column, offset + failed + 1
            offset += batch.num_rows
        return column, 0

    def _header(self, handle: IO[bytes]) -> list[str]:
        types = {name: pa.string() for name in self.schema}
        return list(self._reader(handle, types, [], lambda _row: "skip").schema.names)


def _first_failing_cast(text: pa.Array, wanted: pa.DataType) -> int | None:
    """The index of the first value Arrow cannot cast to `wanted`, by halving the
    prefix that fails (a few casts, on the failure path only); None if all cast."""

    def casts(length: int) -> bool:
        try:
            pc.cast(text.slice(0, length), wanted)
        except pa.ArrowException:
            return False
        return True

    if casts(len(text)):
        return None
    good, bad = 0, len(text)  # a prefix of `good` values casts, one of `bad` does not
    while bad - good > 1:
        middle = (good + bad) // 2
        good, bad = (middle, bad) if casts(middle) else (good, middle)
    return bad - 1


def _failed_column(error: pa.ArrowInvalid, header: Callable[[], list[str]]) -> str | None:
    """The column an Arrow "In CSV column #N: ..." message names, by its name."""
    found = _COLUMN_NUMBER.search(str(error))
    if found is None:
        return None
    names = header()
    number = int(found.group(1))
    return names[number] if number < len(names) else None
