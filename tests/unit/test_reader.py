"""The bounded source reader: every format, several files, any start row."""

from __future__ import annotations

import errno
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO

import polars as pl
import pytest

from sluice.server.errors import as_domain_error
from sluice.server.pipeline import csv_parsing, long_lines, reader
from sluice.server.pipeline.bad_rows import SourceDataError
from sluice.server.pipeline.reader import read_batches
from sluice.server.pipeline.row_errors import FileRows
from sluice.server.pipeline.source import (
    ROW_INDEX,
    ResolvedSource,
    read_schema,
    resolve_source,
    scan,
)

ROWS_PER_FILE = 1_000


def _frame(part: int) -> pl.DataFrame:
    ids = range(part * ROWS_PER_FILE, (part + 1) * ROWS_PER_FILE)
    return pl.DataFrame(
        {
            "id": list(ids),
            "text": [f'line {i}\nwith, a "quote"' for i in ids],
            "amount": [i / 4 for i in ids],
        }
    )


def _write(folder: Path, fmt: str) -> str:
    for part in range(3):
        frame = _frame(part)
        path = folder / f"part-{part}.{fmt}"
        if fmt == "parquet":
            frame.write_parquet(path, row_group_size=300)
        elif fmt == "csv":
            frame.write_csv(path)
        elif fmt == "ndjson":
            frame.write_ndjson(path)
        else:
            frame.write_ipc(path)
    return str(folder / f"*.{fmt}")


@pytest.mark.parametrize("fmt", ["parquet", "csv", "ndjson", "ipc"])
@pytest.mark.parametrize("from_row", [0, 1, 299, 1_000, 1_777, 2_999, 3_000])
def test_reads_every_row_once_from_any_position(tmp_path: Path, fmt: str, from_row: int) -> None:
    source = resolve_source(_write(tmp_path, fmt), "", [tmp_path])
    schema = scan(source).collect_schema()
    batches = list(read_batches(source, schema, ["id", "text", "amount"], 128, from_row))

    assert all(0 < b.height <= 128 for b in batches)
    got = pl.concat(batches) if batches else pl.DataFrame(schema=schema)
    expected = pl.concat([_frame(p) for p in range(3)]).slice(from_row)
    assert got[ROW_INDEX].to_list() == list(range(from_row, 3 * ROWS_PER_FILE))
    assert got.drop(ROW_INDEX).equals(expected)


@pytest.mark.parametrize("piece_batches", [1, 2, 3, 4])
@pytest.mark.parametrize("from_row", [0, 100, 299, 1_777])
def test_parquet_rows_do_not_depend_on_the_piece_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, piece_batches: int, from_row: int
) -> None:
    """How many batches of a row group are decoded at once is a memory/CPU trade-off
    (PARQUET_READ_BATCHES): the rows handed on and their positions are the same for any
    size, also when a piece ends inside a row group (the pipeline re-slices batches into
    exact row counts, so chunk boundaries do not depend on where batches end)."""
    from sluice.server.pipeline import reader

    source = resolve_source(_write(tmp_path, "parquet"), "", [tmp_path])
    schema = scan(source).collect_schema()
    columns = ["id", "text", "amount"]
    monkeypatch.setattr(reader, "PARQUET_READ_BATCHES", 4)
    expected = list(read_batches(source, schema, columns, 128, from_row))
    monkeypatch.setattr(reader, "PARQUET_READ_BATCHES", piece_batches)
    got = list(read_batches(source, schema, columns, 128, from_row))

    assert all(0 < b.height <= 128 for b in got)
    assert pl.concat(got).equals(pl.concat(expected))
    assert pl.concat(got)[ROW_INDEX].to_list() == list(range(from_row, 3 * ROWS_PER_FILE))


def test_projection_reads_only_the_named_columns(tmp_path: Path) -> None:
    source = resolve_source(_write(tmp_path, "parquet"), "", [tmp_path])
    schema = scan(source).collect_schema()
    batch = next(read_batches(source, schema, ["amount"], 50))
    assert batch.columns == [ROW_INDEX, "amount"]
    assert batch.schema[ROW_INDEX] == schema[ROW_INDEX]


def test_parquet_is_decoded_in_pieces_within_row_groups(tmp_path: Path) -> None:
    """Row groups of 300 rows, pieces of at most 128: every piece lies inside one group,
    so no row group's pages are decoded more than once for its batches."""
    import pyarrow.parquet as pq

    from sluice.server.pipeline.reader import row_group_pieces

    _write(tmp_path, "parquet")
    metadata = pq.ParquetFile(tmp_path / "part-0.parquet").metadata
    pieces = list(row_group_pieces(metadata, 128))
    assert pieces == [
        (0, 128), (128, 256), (256, 300),
        (300, 428), (428, 556), (556, 600),
        (600, 728), (728, 856), (856, 900),
        (900, 1000),
    ]  # fmt: skip


def test_the_first_piece_read_is_one_batch_and_the_rest_unchanged() -> None:
    """The encoder can start after one batch's decoding rather than a whole piece's;
    later pieces keep their size, and skipped rows are left out as before."""
    from sluice.server.pipeline.reader import first_batch_alone

    pieces = [(0, 512), (512, 1000)]
    assert list(first_batch_alone(pieces, 0, 128)) == [(0, 128), (128, 512), (512, 1000)]
    assert list(first_batch_alone(pieces, 300, 128)) == [(300, 428), (428, 512), (512, 1000)]
    assert list(first_batch_alone(pieces, 600, 128)) == [(600, 728), (728, 1000)]
    assert list(first_batch_alone(pieces, 450, 128)) == [(450, 512), (512, 1000)]
    assert list(first_batch_alone(pieces, 1000, 128)) == []


def test_a_file_deleted_while_the_export_reads_fails_naming_it(tmp_path: Path) -> None:
    """A glob's later file deleted mid-export: FAILED_PRECONDITION naming the file, not
    an internal FileNotFoundError (hunt29 t7 "vanish")."""
    source = resolve_source(_write(tmp_path, "parquet"), "", [tmp_path])
    schema = scan(source).collect_schema()
    batches = read_batches(source, schema, ["id"], 128)
    assert next(batches).height == 128  # the first file is being read
    (tmp_path / "part-2.parquet").unlink()
    with pytest.raises(SourceDataError, match=r"part-2\.parquet: the source file is gone") as err:
        for _ in batches:
            pass
    assert err.value.code == "FAILED_PRECONDITION"


@pytest.mark.parametrize("size", [0, 100, 20_000])
def test_a_parquet_file_cut_while_the_export_reads_fails_naming_it(
    tmp_path: Path, size: int
) -> None:
    """A Parquet file truncated in place after its footer was read: a domain error naming
    the file (Polars panics on the missing pages: hunt29 t7 "truncate"), never its data."""
    path = tmp_path / "big.parquet"
    pl.DataFrame(
        {"id": range(100_000), "text": [f"secret {i}" for i in range(100_000)]}
    ).write_parquet(path, row_group_size=10_000)
    source = resolve_source(str(path), "", [tmp_path])
    schema = scan(source).collect_schema()
    batches = read_batches(source, schema, ["id", "text"], 1_000)
    assert next(batches).height == 1_000
    with open(path, "r+b") as handle:
        handle.truncate(size)
    with pytest.raises(
        SourceDataError, match=r"big\.parquet: the rows after row \d+ could not be decoded"
    ) as err:
        for _ in batches:
            pass
    assert err.value.code == "FAILED_PRECONDITION"
    assert "secret" not in str(err.value)


def _failing_reader(error: BaseException) -> Callable[..., Iterator[tuple[int, pl.DataFrame]]]:
    """A Parquet decoder that hands on one piece of the file, then fails with `error`."""

    def read(
        handle: IO[bytes], schema: pl.Schema, *_: object, **_options: object
    ) -> Iterator[tuple[int, pl.DataFrame]]:
        yield 0, pl.read_parquet(handle).head(10)
        raise error

    return read


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (TimeoutError(errno.ETIMEDOUT, "Connection timed out"), "UNAVAILABLE"),
        (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), "UNAVAILABLE"),
        (OSError(errno.EIO, "Input/output error"), "INTERNAL"),
        (OSError(errno.EMFILE, "Too many open files"), "INTERNAL"),
    ],
)
def test_a_read_that_fails_for_a_reason_other_than_the_file_is_not_blamed_on_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: OSError, code: str
) -> None:
    """A timeout of a network mount is transient (retried), a disk or process limit the
    server's: neither is "the file changed" (FAILED_PRECONDITION, never retried)."""
    source = resolve_source(_write(tmp_path, "parquet"), "", [tmp_path])
    schema = scan(source).collect_schema()
    monkeypatch.setitem(reader._READERS, "parquet", _failing_reader(error))
    with pytest.raises(OSError) as raised:
        list(read_batches(source, schema, ["id"], 128))
    assert raised.value is error
    assert as_domain_error(raised.value).code == code


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (TimeoutError(errno.ETIMEDOUT, "Connection timed out"), "UNAVAILABLE"),
        (OSError(errno.EMFILE, "Too many open files"), "INTERNAL"),
        (OSError(errno.ESTALE, "Stale file handle"), "FAILED_PRECONDITION"),
        (PermissionError(errno.EACCES, "Permission denied"), "FAILED_PRECONDITION"),
    ],
)
def test_a_source_file_that_cannot_be_opened_is_blamed_only_when_it_is_its_fault(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: OSError, code: str
) -> None:
    source = resolve_source(_write(tmp_path, "parquet"), "", [tmp_path])
    schema = scan(source).collect_schema()

    def opener(_: ResolvedSource) -> Callable[[str], IO[bytes]]:
        def open_file(path: str) -> IO[bytes]:
            raise error

        return open_file

    monkeypatch.setattr(reader, "file_opener", opener)
    with pytest.raises(BaseException) as raised:
        list(read_batches(source, schema, ["id"], 128))
    assert as_domain_error(raised.value).code == code


def test_a_decoder_panic_is_logged_and_said_to_be_a_changed_or_corrupt_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    source = resolve_source(_write(tmp_path, "parquet"), "", [tmp_path])
    schema = scan(source).collect_schema()
    panic = pl.exceptions.PanicException("range end index 4111111111111111 out of range")
    monkeypatch.setitem(reader._READERS, "parquet", _failing_reader(panic))
    with (
        caplog.at_level(logging.WARNING, logger=reader.__name__),
        pytest.raises(SourceDataError, match="could not be decoded") as raised,
    ):
        list(read_batches(source, schema, ["id"], 128))
    assert "changed mid-export or corrupt" in str(raised.value)
    assert raised.value.code == "FAILED_PRECONDITION"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "PanicException" in logged and "part-0.parquet" in logged
    assert "4111" not in logged  # a panic's text may quote data


def test_a_tsv_source_is_read_with_tabs_through_its_checked_file(tmp_path: Path) -> None:
    """A resolved local file is opened as checked (named /proc/self/fd/N): its separator
    comes from the source, not the open file's name (commas split nothing: a column
    named "id\\tname" was not found)."""
    path = tmp_path / "people.tsv"
    path.write_text("id\tname\n1\tAna\n2\tBo\n")
    source = resolve_source(str(path), "", [tmp_path])
    assert source.real_files
    schema = read_schema(source)
    frames = list(read_batches(source, schema, ["id", "name"], 10))
    assert pl.concat(frames).drop(ROW_INDEX).to_dicts() == [
        {"id": 1, "name": "Ana"},
        {"id": 2, "name": "Bo"},
    ]


def _stray_quote_csv(folder: Path, closed: bool) -> Path:
    # One unclosed quote at row 200 turns every following row into one text value, up
    # to the next quote (a closing `6" screen` at row 2,500) or the end of the file.
    lines = ["id,text"]
    for i in range(1, 3_001):
        if i == 200:
            lines.append(f'{i},"oops')
        elif i == 2_500 and closed:
            lines.append(f'{i},6" screen')
        else:
            lines.append(f"{i},row {i}")
    path = folder / "stray.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(("closed", "on_bad_rows"), [(True, "fail"), (False, "skip")])
def test_a_stray_quote_fails_the_file_rather_than_merging_or_dropping_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, closed: bool, on_bad_rows: str
) -> None:
    # Small parser blocks stand for the 8 MiB ones: the quoted "field" outgrows them.
    monkeypatch.setattr(csv_parsing, "CSV_BLOCK_BYTES", 4096)
    path = _stray_quote_csv(tmp_path, closed)
    source = replace(resolve_source(str(path), "", [tmp_path]), on_bad_rows=on_bad_rows)
    schema = scan(source).collect_schema()
    with pytest.raises(SourceDataError) as failed:
        for _ in read_batches(source, schema, ["id", "text"], 128):
            pass
    message = str(failed.value)
    assert failed.value.code == "FAILED_PRECONDITION"
    assert "stray.csv" in message and "unclosed quote" in message, message
    # The rows read before the quote: never past it (row 199 here, as Arrow hands on).
    reached = re.search(r"after row (\d+):", message)
    assert reached is not None and int(reached[1]) < 200, message


@pytest.mark.parametrize("max_line", [20, 40])
def test_ndjson_lines_longer_than_a_read_are_measured_then_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_line: int
) -> None:
    # Tiny reads stand for the 16 MiB blocks and 1 MiB scans: every length around them.
    monkeypatch.setattr(reader, "NDJSON_BLOCK_BYTES", 8)
    monkeypatch.setattr(long_lines, "SCAN_READ_BYTES", 3)
    lengths = [0, 1, 7, 8, 9, 15, 16, 17, 19, 20, 5, 0, 8, 16]
    lines = [b'"' + b"x" * max(n - 2, 0) + b'"' if n else b"" for n in lengths]
    for ending in (b"", b"\n"):
        path = tmp_path / "lines.ndjson"
        path.write_bytes(b"\n".join(lines) + ending)
        rows = FileRows("lines.ndjson", False, None, 0)
        with path.open("rb") as handle:
            got = {
                first + offset: text
                for first, block in reader._line_blocks(handle, max_line, rows)
                for offset, text in enumerate(block.split(b"\n"))
                if text.strip()
            }
        assert got == {number: text for number, text in enumerate(lines, 1) if text.strip()}


def test_an_ndjson_line_past_the_cap_is_named_with_the_byte_it_starts_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "NDJSON_BLOCK_BYTES", 8)
    path = tmp_path / "long.ndjson"
    path.write_bytes(b"{}\n" + b"{}\n" * 3 + b"x" * 100)
    with path.open("rb") as handle, pytest.raises(SourceDataError) as failed:
        list(reader._line_blocks(handle, 20, FileRows("long.ndjson", False, None, 0)))
    assert "long.ndjson: line 5 (from byte 12) is longer than 20 bytes" in str(failed.value)
