"""Decoding verified chunk plaintext and writing records as JSON lines, CSV or Parquet
(used by `sluice export read`)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import IO

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from sluice.client._reader import ExportReadError, VerifiedChunk
from sluice.format.temporal_text import temporal_as_text


class RecordWriter:
    """Writes each verified chunk's records to `sink` in `fmt`."""

    def __init__(self, fmt: str, sink: IO[bytes]) -> None:
        self._fmt = fmt
        self._sink = sink
        self._parquet: pq.ParquetWriter | None = None
        self._csv_header = True

    def write(self, chunk: VerifiedChunk, source_format: str) -> None:
        if self._fmt == "jsonl" and source_format == "jsonl":
            # Pass the verified bytes through unchanged: no re-encoding, exact values.
            data = chunk.plaintext.read()
            _check_count(chunk, data.count(b"\n"))
            self._sink.write(data)
            return
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
            table = frame.to_arrow()
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(pa.PythonFile(self._sink, mode="w"), table.schema)
            self._parquet.write_table(table.cast(self._parquet.schema))

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()


def _check_count(chunk: VerifiedChunk, found: int) -> None:
    if found != chunk.records:
        raise ExportReadError(
            f"chunk {chunk.index} ({chunk.path}) holds {found} records, "
            f"the manifest says {chunk.records}"
        )


_DECODERS: dict[str, Callable[[IO[bytes]], pl.DataFrame]] = {
    "jsonl": pl.read_ndjson,
    "csv": pl.read_csv,
    "parquet": pl.read_parquet,
    "arrow": pl.read_ipc,
    "json": lambda handle: pl.DataFrame(json.load(handle)["data"]),
}


def _decode(chunk: VerifiedChunk, source_format: str) -> pl.DataFrame:
    decoder = _DECODERS.get(source_format)
    if decoder is None:
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
    nested = [n for n, t in frame.schema.items() if t.is_nested()]
    return frame.with_columns(
        pl.struct(pl.col(n).alias("v")).struct.json_encode().str.slice(5).str.head(-1).alias(n)
        for n in nested
    )
