"""Writing verified chunk plaintext out as JSON lines, CSV or Parquet (used by
`sluice export read`).

An export read in its own text format passes through unchanged: JSONL chunks as stored,
CSV chunks joined under the first chunk's header. That needs nothing beyond
`pip install sluice`. Any other pair decodes through Polars (and writes Parquet through
PyArrow), the `read` extra, imported only then."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING

from sluice.client._extras import install_hint
from sluice.client._reader import ExportReadError, VerifiedChunk
from sluice.format.manifest import SchemaField

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa
    import pyarrow.parquet as pq

#: Formats written for other tools (and people), which the reader does not decode.
_FOR_OTHER_TOOLS = {
    "xml": "XML tools (each export has its records.xsd)",
    "yaml": "a YAML reader (yaml.safe_load)",
    "markdown": "a Markdown viewer",
}
#: Formats an export is read back in byte for byte, without decoding.
PASS_THROUGH_FORMATS = frozenset({"jsonl", "csv"})


class RecordWriter:
    """Writes each verified chunk's records to `sink` in `fmt`."""

    def __init__(self, fmt: str, sink: IO[bytes], columns: Sequence[SchemaField] = ()) -> None:
        """`columns` (the manifest's schema) head a CSV and make a Parquet file's schema
        when no chunk does (an export with no records)."""
        self._fmt = fmt
        self._sink = sink
        self._columns = tuple(columns)
        self._parquet: pq.ParquetWriter | None = None
        self._csv_header = True

    def write(self, chunk: VerifiedChunk, source_format: str) -> None:
        if self._fmt == source_format and self._fmt in PASS_THROUGH_FORMATS:
            self._pass_through(chunk)
            return
        try:
            import polars  # noqa: F401 - checked here, used by the helpers below

            # The text form of dates and times is the export's own (see temporal_text).
            from sluice.format.temporal_text import temporal_as_text
        except ImportError as exc:
            raise ExportReadError(self._needs_read_extra(source_format, exc)) from None
        frame = _decode(chunk, source_format)
        _check_count(chunk, frame.height)
        if self._fmt != "parquet":
            # Dates and times read back from Parquet/Arrow as text exports write them.
            frame = temporal_as_text(frame)
        if self._fmt == "jsonl":
            frame.write_ndjson(self._sink)
        elif self._fmt == "csv":
            buffer = io.BytesIO()
            _nested_as_json(frame).write_csv(buffer, include_header=self._csv_header)
            self._csv_header = False
            self._sink.write(buffer.getvalue())
        else:
            self._write_parquet(frame, source_format)

    def close(self) -> None:
        """Ends the output; one no chunk wrote to still carries the export's columns (a
        Parquet file of no rows, a CSV header: a 0-byte file is neither)."""
        if self._fmt == "parquet" and self._parquet is None:
            self._parquet = self._schema_only_parquet()
        if self._fmt == "csv" and self._csv_header and self._columns:
            header = io.StringIO()
            csv.writer(header, lineterminator="\n").writerow(f.name for f in self._columns)
            self._sink.write(header.getvalue().encode())
            self._csv_header = False
        if self._parquet is not None:
            self._parquet.close()

    def _schema_only_parquet(self) -> pq.ParquetWriter:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq

            from sluice.format.arrow_types import arrow_schema_of
        except ImportError as exc:
            raise ExportReadError(
                install_hint("writing an export with no records as parquet", "read", exc)
            ) from None
        return pq.ParquetWriter(pa.PythonFile(self._sink, mode="w"), arrow_schema_of(self._columns))

    def _pass_through(self, chunk: VerifiedChunk) -> None:
        # The verified bytes unchanged: no re-encoding, exact values.
        data = chunk.plaintext.read()
        if self._fmt == "jsonl":
            _check_count(chunk, data.count(b"\n"))
            self._sink.write(data)
            return
        records, header_end = _csv_layout(data)
        _check_count(chunk, records)
        if not self._csv_header:
            data = data[header_end:]
        elif header_end:
            # Only a chunk that has a header line writes it (an empty one has none).
            self._csv_header = False
        self._sink.write(data)

    def _write_parquet(self, frame: pl.DataFrame, source_format: str) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise ExportReadError(self._needs_read_extra(source_format, exc)) from None
        table: pa.Table = frame.to_arrow()
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(pa.PythonFile(self._sink, mode="w"), table.schema)
        self._parquet.write_table(table.cast(self._parquet.schema))

    def _needs_read_extra(self, source_format: str, exc: ImportError) -> str:
        return install_hint(f"reading {source_format} chunks as {self._fmt}", "read", exc)


def _check_count(chunk: VerifiedChunk, found: int) -> None:
    if found != chunk.records:
        raise ExportReadError(
            f"chunk {chunk.index} ({chunk.path}) holds {found} records, "
            f"the manifest says {chunk.records}"
        )


def _csv_layout(data: bytes) -> tuple[int, int]:
    """(records below the header, bytes of the header line) of one CSV chunk.

    Exports write RFC 4180 CSV: a field holding a quote, comma or newline is quoted and
    its quotes are doubled. So a newline ends a record exactly where the quotes before it
    are balanced, i.e. in the even-numbered pieces of the data split at every quote."""
    record_ends = 0
    header_end = 0
    offset = 0
    for number, piece in enumerate(data.split(b'"')):
        if number % 2 == 0 and (newlines := piece.count(b"\n")):
            if not record_ends:
                header_end = offset + piece.index(b"\n") + 1
            record_ends += newlines
        offset += len(piece) + 1
    if data and not data.endswith(b"\n"):
        # A last line without its newline is a record too (the readers agree).
        record_ends += 1
        header_end = header_end or len(data)
    return max(record_ends - 1, 0), header_end


def _decode(chunk: VerifiedChunk, source_format: str) -> pl.DataFrame:
    import polars as pl

    decoders: dict[str, Callable[[IO[bytes]], pl.DataFrame]] = {
        "jsonl": pl.read_ndjson,
        "csv": pl.read_csv,
        "parquet": pl.read_parquet,
        "arrow": pl.read_ipc,
        "json": lambda handle: pl.DataFrame(json.load(handle)["data"]),
    }
    decoder = decoders.get(source_format)
    if decoder is None:
        if source_format in _FOR_OTHER_TOOLS:
            raise ExportReadError(
                f"{source_format} exports are read with {_FOR_OTHER_TOOLS[source_format]}, "
                "not by `sluice export read`; export as jsonl, csv or parquet to read records "
                "back here"
            )
        raise ExportReadError(f"cannot decode format {source_format!r}")
    if chunk.records == 0:
        return pl.DataFrame()
    try:
        return decoder(chunk.plaintext)
    except Exception as exc:  # noqa: BLE001 - Polars raises many types for bad input
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise ExportReadError(
            f"chunk {chunk.index}: cannot decode {source_format}: {first}"
        ) from None


def _nested_as_json(frame: pl.DataFrame) -> pl.DataFrame:
    """CSV has no nested values: write structs and lists as JSON text, as exports do."""
    import polars as pl

    nested = [n for n, t in frame.schema.items() if t.is_nested()]
    return frame.with_columns(
        pl.struct(pl.col(n).alias("v")).struct.json_encode().str.slice(5).str.head(-1).alias(n)
        for n in nested
    )
