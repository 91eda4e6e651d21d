"""Unclosed quotes in a CSV source file: a broken file, never a bad row to skip.

A quote that is never closed makes the rest of the file, or everything up to the next
quote, one value. Arrow's parser (newlines_in_values) takes that value as it is: when
the row then still has the header's number of fields (the quote in the last column) the
export "succeeded" with every later record merged into one text value; when it had
fewer, the row was malformed, and on_bad_rows "skip" left out every later record as one
skipped row. Values longer than about two parser blocks fail already (reader._csv).

So a CSV file fails, whatever on_bad_rows says, naming the file and the line the quote
opened on, when a quoted value (kept, or inside a malformed row) runs over more than
MAX_VALUE_LINES line breaks, or when a quote opened in a row that spans lines is still
open at the end of the file. Shorter multi-line values are data (addresses, notes); a
malformed row holding an unclosed quote of at most MAX_VALUE_LINES lines is still a bad
row (skipped and counted under "skip"; under "fail" its error says how many lines it
spans).

The line is found on the failure path only, by reading the file again: a quote
character toggles quoting (a doubled one toggles twice), as Polars counts rows
(piece_counts); the record that opens on a line and spans the value's line breaks is
the one named. When the file's quotes do not follow that rule (a stray quote inside an
unquoted field) and no such record is found, the row is named instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import IO, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from sluice.server.pipeline.bad_rows import SourceDataError

_log = logging.getLogger(__name__)

#: Line breaks a quoted CSV value may hold: more is taken for an unclosed quote.
MAX_VALUE_LINES: Final = 1_000
#: Bytes of an open quote's row kept to compare with the file's end (see at_end).
_TAIL_BYTES: Final = 4096
_READ_BYTES: Final = 1024 * 1024
_ENDS: Final = b"\r\n"


class QuoteWatch:
    """The quoted values of one CSV file that span lines, watched for an unclosed quote.
    `last_column` is the file's last column: a quote left open in it keeps the row's
    number of fields, so only its values show the merge (read as text when the export
    does not read it, see CsvOptions)."""

    def __init__(self, file: str, last_column: str) -> None:
        self.file = file
        self._last_column = last_column
        #: (row as the parser counts it, header included; line breaks) of an unclosed
        #: quote inside a malformed row that the file fails on.
        self._broken: tuple[int, int] | None = None
        #: The end of the last malformed row holding an open quote, its row (as the
        #: parser counts it) and line breaks.
        self._open_row: tuple[bytes, int, int] | None = None
        #: The end of the last row's multi-line value in the last column, its data row
        #: and line breaks.
        self._last_value: tuple[bytes, int, int] | None = None
        self._rows = 0

    @property
    def fails(self) -> bool:
        """Whether a malformed row was an unclosed quote the file fails on."""
        return self._broken is not None

    def invalid_row(self, row: pa_csv.InvalidRow) -> str:
        """What a malformed row's error adds when the row spans lines ("" if it does
        not): a quoted value in it runs over line ends, closed or not. Over
        MAX_VALUE_LINES line breaks the file fails (`fails`), whatever on_bad_rows says;
        a row whose last quote is open is kept in mind for the end of the file."""
        text = row.text
        breaks = text.count("\n")
        if not breaks:
            return ""
        if breaks > MAX_VALUE_LINES:
            self._broken = (row.number, breaks)
        elif text.count('"') % 2:
            self._open_row = (text[-_TAIL_BYTES:].encode(), row.number, breaks)
        _log.warning(
            "%s: the malformed row %d spans %d lines (a quoted value over line ends, or a "
            "quote not closed)", self.file, row.number - 1, breaks + 1,
        )  # fmt: skip
        return (
            f"; it spans {breaks + 1} lines (a quoted value over line ends, or a quote not closed)"
        )

    def checked(
        self, batches: Iterable[pa.RecordBatch], handle: IO[bytes], drop: bool
    ) -> Iterator[pa.RecordBatch]:
        """`batches` as parsed, failing before a batch with a value over MAX_VALUE_LINES
        line breaks, or at the end, when the file ends inside a quote; the last column
        left out (`drop`) once checked when only this reads it."""
        for batch in batches:
            self._check(batch, handle)
            self._rows += batch.num_rows
            yield batch.drop_columns([self._last_column]) if drop else batch
        self._at_end(handle)

    def _check(self, batch: pa.RecordBatch, handle: IO[bytes]) -> None:
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
                continue
            # Only values at least that long can hold that many line breaks: theirs are
            # counted (lengths come from the offsets; counting the breaks of every
            # value cost ~30 ms per 8 MB of text).
            long = pc.indices_nonzero(pc.greater(pc.binary_length(column), MAX_VALUE_LINES))
            if len(long):
                breaks = pc.count_substring(column.take(long), "\n")
                over = pc.index(pc.greater(breaks, MAX_VALUE_LINES), True).as_py()
                if over >= 0:
                    index = long[over].as_py()
                    raise self._error(handle, breaks[over].as_py(), self._rows + index + 1)
            if name == self._last_column and batch.num_rows:
                value = column[batch.num_rows - 1].as_py()
                self._last_value = (
                    (value[-_TAIL_BYTES:].encode(), self._rows + batch.num_rows, value.count("\n"))
                    if isinstance(value, str) and "\n" in value
                    else None
                )

    def _at_end(self, handle: IO[bytes]) -> None:
        """A file whose last record holds an open quote: the quoted text runs to the end
        of the file (the parser takes it as the value), which no closed quote can."""
        for found, parsed in ((self._open_row, True), (self._last_value, False)):
            if found is not None and _file_ends_with(handle, found[0]):
                _, row, breaks = found
                raise self._error(handle, breaks, row - 1 if parsed else row, to_the_end=True)

    def error(self, handle: IO[bytes]) -> SourceDataError | None:
        """The failure of a malformed row that is an unclosed quote (see invalid_row)."""
        if self._broken is None:
            return None
        row, breaks = self._broken
        return self._error(handle, breaks, row - 1)

    def _error(
        self, handle: IO[bytes], breaks: int, row: int, *, to_the_end: bool = False
    ) -> SourceDataError:
        """`row`: 1-based, the header not counted, named when the line is not found."""
        line, open_at_end = opened_at(handle, breaks, to_the_end)
        where = f"line {line}" if line else f"row {row}"
        to_the_end = to_the_end or open_at_end
        reach = "before the end of the file" if to_the_end else f"within {breaks + 1} lines"
        return SourceDataError(
            f"{self.file}: {where}: a quote opened there is not closed {reach}, so "
            "the records after it would be merged into one value (an unclosed quote: the "
            'file is broken, even with on_bad_rows "skip"); fix the quoting and export again'
        )


def _file_ends_with(handle: IO[bytes], tail: bytes) -> bool:
    """Whether the file's last bytes, line ends aside, are `tail`'s."""
    tail = tail.rstrip(_ENDS)
    if not tail.strip():
        return False  # a value of line ends only: nothing to tell it by
    handle.seek(0, 2)
    size = handle.tell()
    start = max(size - len(tail) - 2, 0)
    handle.seek(start)
    return handle.read(size - start).rstrip(_ENDS).endswith(tail)


def opened_at(handle: IO[bytes], breaks: int, to_the_end: bool) -> tuple[int, bool]:
    """The line (1-based) where the first record opens a quote that spans at least
    `breaks` line breaks (or, `to_the_end`, is still open at the end of the file), with
    every quote character toggling quoting (0 if none does), and whether that quote is
    open at the end."""
    handle.seek(0)
    line = 0
    opened = 0  # the line the open quote began on; 0: outside quotes
    carry = b""
    while True:
        data = handle.read(_READ_BYTES)
        if not data:
            break
        lines = (carry + data).split(b"\n")
        carry = lines.pop()
        for text in lines:
            line += 1
            if text.count(b'"') % 2 == 0:
                continue
            if not opened:
                opened = line
            else:
                if not to_the_end and line - opened >= breaks:
                    return opened, False
                opened = 0
    if carry:
        line += 1
        if carry.count(b'"') % 2:
            opened = 0 if opened else line
    return opened, bool(opened)
