"""One source file's rows that cannot be read: skipped and counted, or reported as a
SourceDataError that names the file, the line or row and the column.

Polars and Arrow quote the data they fail on ("Expected 3 columns, got 4: 2,jane@...").
Those messages never leave here: only the numbers (line, field counts, column position)
are taken from them, and everything else is said in our own words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv

from sluice.server.pipeline.bad_rows import SKIP_HINT, BadRowTally, SourceDataError

#: Exceptions of the libraries that decode sources; their messages may quote data.
DATA_ERRORS: Final = (pl.exceptions.PolarsError, pa.ArrowException)
#: The target type in Arrow's "CSV conversion error to <type>: ..." (what follows can
#: quote the value, and only ever inside quotes).
_TYPE: Final = re.compile(r"conversion error to ([^'\"\n]{1,60}?): ")


class FileRows:
    """The bad rows of one source file (whose first row is at position `base`)."""

    def __init__(self, file: str, skip: bool, tally: BadRowTally | None, base: int) -> None:
        self.file = file
        self.skip = skip
        self._tally = tally
        self._base = base
        self._pending = 0
        #: Whether a bad row of this file was skipped (and counted) yet.
        self.skipped = False
        #: (line or None, fields found, fields expected) of a malformed CSV row.
        self._malformed: tuple[int | None, int, int] | None = None
        self._note = ""

    def on_invalid_row(self, row: pa_csv.InvalidRow, note: str = "") -> str:
        """Arrow's CSV hook for a row with the wrong number of fields; `note` is what
        its error adds (csv_quotes: an unclosed quote it holds)."""
        if self.skip:
            self._pending += 1
            self.skipped = True
            return "skip"
        self._malformed = (row.number, row.actual_columns, row.expected_columns)
        self._note = note
        return "error"

    def bad_line(self, line: int, what: str) -> None:
        """A line that is not a record: skipped, or the export fails naming it."""
        if self.skip:
            self._pending += 1
            self.skipped = True
            return
        raise SourceDataError(f"{self.file}: line {line} {what} ({SKIP_HINT})")

    def flush(self, position: int) -> None:
        """Record the rows skipped so far at `position` (in the file), which the reader
        has not passed yet."""
        if self._pending and self._tally is not None:
            self._tally.record(self._base + position, self._pending)
        self._pending = 0

    def malformed_row(self) -> SourceDataError | None:
        if self._malformed is None:
            return None
        line, found, expected = self._malformed
        where = f"line {line}" if line is not None else "a row"
        return SourceDataError(
            f"{self.file}: {where} has {found} fields, expected {expected}{self._note} "
            f"({SKIP_HINT})"
        )

    def changed(self, error: BaseException, rows_read: int) -> SourceDataError:
        """A local file gone while it is read (deleted or renamed mid-export)."""
        return SourceDataError(
            f"{self.file}: cannot read the rows after row {rows_read} ({type(error).__name__}:"
            " the file is gone, as when it is deleted or renamed while the export reads "
            "it); the chunks written so far stay: resume once it is back, or start a new "
            "export"
        )

    def undecodable(self, error: BaseException, rows_read: int) -> SourceDataError:
        """A decoder that failed below the format (Polars' panic): what happens when the
        file is rewritten or cut while it is read, or is corrupt."""
        return SourceDataError(
            f"{self.file}: the rows after row {rows_read} could not be decoded "
            f"({type(error).__name__}: changed mid-export or corrupt, as when the file is "
            "rewritten or truncated while the export reads it); the chunks written so far "
            "stay: resume once the file is whole again, or start a new export"
        )

    def unreadable(self, error: BaseException, rows_read: int) -> SourceDataError:
        """Any other decoding failure: where, and what kind, never the library's text."""
        return SourceDataError(
            f"{self.file}: cannot read the rows after row {rows_read} "
            f"({type(error).__name__}; the source's own message is not shown as it may "
            "quote data)"
        )


def csv_error(
    error: pa.ArrowInvalid,
    rows: FileRows,
    locate: Callable[[pa.ArrowInvalid], tuple[str, int] | None],
) -> SourceDataError:
    """Arrow's CSV failure in our words: a row with the wrong number of fields, or a
    value that does not convert to its column's type (found with `locate`)."""
    malformed = rows.malformed_row()
    if malformed is not None:
        return malformed
    kind = _TYPE.search(str(error))
    if kind is None:
        return rows.unreadable(error, 0)
    try:
        located = locate(error)
    except Exception:  # noqa: BLE001 - finding the row is a courtesy; the error stands
        located = None
    if located is None:
        where = "a value"
        column = ""
    else:
        column, row = located
        where = f"row {row}" if row else "a value"
    named = f", column {column!r}" if column else ""
    hint = f'give it a type with spec.source.schema, e.g. "{column or "COLUMN"}:str"'
    return SourceDataError(
        f"{rows.file}: {where}{named}: not a valid {kind.group(1)} value ({hint})"
    )
