"""A CSV or NDJSON source counted piece by piece (piece_counts) counts what Polars'
count of the whole file counts, however the file is cut into blocks: quoted values with
newlines and doubled quotes, blank lines, CRLF, a missing last newline, a header alone,
tabs. And once the stop is set, the count ends at the next block."""

from __future__ import annotations

import gzip
import io
import random
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO

import polars as pl
import pytest
import zstandard

from sluice.server.errors import Interrupted
from sluice.server.pipeline import piece_counts
from sluice.server.pipeline.piece_counts import count_file_rows, record_pieces

CSV_FILES = {
    "plain": b"a,b\n1,2\n3,4\n",
    "no last newline": b"a,b\n1,2\n3,4",
    "quoted newlines": b'a,b\n1,"x\ny\n\nz"\n3,"\n"\n5,6\n',
    "doubled quotes": b'a,b\n1,"x""\ny"""\n3,""\n"q""",4\n',
    "blank lines": b"a,b\n1,2\n\n3,4\n\n\n",
    "crlf": b'a,b\r\n1,"2\r\n2"\r\n3,4\r\n',
    "header alone": b"a,b\n",
    "header without newline": b"a,b",
    "blank lines before the header": b"\n\na,b\n1,2\n",
    "a quote inside a value": b'a,b\n1,x"y\n3,4\n5,"6"\n',
}
NDJSON_FILES = {
    "plain": b'{"a":1}\n{"a":2}\n',
    "no last newline": b'{"a":1}\n{"a":2}',
    "blank lines": b'{"a":1}\n\n  \n{"a":"x\\ny"}\n\n',
    "crlf": b'{"a":1}\r\n\r\n{"a":2}\r\n',
    "not json": b'{"a":1}\nnot json\n{"a":2}\n',
}


def _opener(path: str) -> IO[bytes]:
    return open(path, "rb")


def _random_csv(seed: int) -> bytes:
    """300 rows whose values may hold quotes, commas, newlines and CRLFs, quoted as
    Polars writes them, in ten runs with a blank line (a row to Polars) between each
    two."""
    pick = random.Random(seed)
    alphabet = ['"', ",", "\n", "\r\n", "a", "b", " "]
    frame = pl.DataFrame(
        {
            "id": list(range(300)),
            "text": ["".join(pick.choices(alphabet, k=pick.randint(0, 12))) for _ in range(300)],
        }
    )
    # Ten runs of rows, a blank line between each two.
    runs = [frame.slice(start, 30) for start in range(0, 300, 30)]
    return b"\n".join(
        run.write_csv(include_header=number == 0).encode() for number, run in enumerate(runs)
    )


def _whole_file_count(path: Path, csv_separator: str | None) -> int:
    """How the source was counted before: Polars' count of the whole file (of NDJSON
    given a schema, without which it infers one, and fails on the "not json" line)."""
    if csv_separator is None:
        scan = pl.scan_ndjson(path, schema={"_": pl.String()})
    else:
        scan = pl.scan_csv(path, separator=csv_separator)
    return int(scan.select(pl.len()).collect().item())


def _whole_file_count_of(tmp_path: Path, data: bytes, csv_separator: str | None) -> int:
    path = tmp_path / "plain"
    path.write_bytes(data)
    return _whole_file_count(path, csv_separator)


def _counted(
    tmp_path: Path,
    data: bytes,
    csv_separator: str | None,
    monkeypatch: pytest.MonkeyPatch,
    block_bytes: int,
) -> tuple[int, int]:
    path = tmp_path / "source"
    path.write_bytes(data)
    monkeypatch.setattr(piece_counts, "COUNT_BLOCK_BYTES", block_bytes)
    return count_file_rows(_opener, [str(path)], csv_separator), _whole_file_count(
        path, csv_separator
    )


@pytest.mark.parametrize("block_bytes", [1, 2, 3, 7, 64, 1 << 20])
@pytest.mark.parametrize("name", sorted(CSV_FILES))
def test_a_csv_file_counted_in_pieces_counts_what_polars_counts_of_it_whole(
    name: str, block_bytes: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pieces, whole = _counted(tmp_path, CSV_FILES[name], ",", monkeypatch, block_bytes)
    assert pieces == whole


@pytest.mark.parametrize("seed", range(20))
def test_csv_values_with_quotes_and_newlines_never_shift_the_count(
    seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _random_csv(seed)
    for block_bytes in (5, 13, 101):
        pieces, whole = _counted(tmp_path, data, ",", monkeypatch, block_bytes)
        assert pieces == whole == 300 + 9, block_bytes


def test_tabs_are_counted_as_commas_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b'a\tb\n1\t"x\ny"\n3\t4\n'
    pieces, whole = _counted(tmp_path, data, "\t", monkeypatch, 3)
    assert pieces == whole == 2


@pytest.mark.parametrize("block_bytes", [1, 3, 7, 1 << 20])
@pytest.mark.parametrize("name", sorted(NDJSON_FILES))
def test_an_ndjson_file_counted_in_pieces_counts_what_polars_counts_of_it_whole(
    name: str, block_bytes: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pieces, whole = _counted(tmp_path, NDJSON_FILES[name], None, monkeypatch, block_bytes)
    assert pieces == whole


COMPRESSIONS = {
    "gzip": gzip.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
    "zlib": zlib.compress,
}


@pytest.mark.parametrize("compression", sorted(COMPRESSIONS))
@pytest.mark.parametrize("csv_separator", [",", None])
def test_a_compressed_file_is_counted_by_its_records_not_its_bytes(
    compression: str, csv_separator: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Polars reads these by their magic bytes whatever the file's name: the pieces are
    # cut from the records, not from the compressed bytes (which hold 0x0A anywhere).
    data = _random_csv(3) if csv_separator else b"".join(NDJSON_FILES.values()) * 50
    compressed = COMPRESSIONS[compression](data)
    pieces, whole = _counted(tmp_path, compressed, csv_separator, monkeypatch, 64)
    assert pieces == whole > 0
    assert _whole_file_count_of(tmp_path, data, csv_separator) == whole


def test_several_files_count_each_header_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_bytes(b'a,b\n1,"x\ny"\n')
    second.write_bytes(b"a,b\n2,3\n4,5\n")
    monkeypatch.setattr(piece_counts, "COUNT_BLOCK_BYTES", 4)
    assert count_file_rows(_opener, [str(first), str(second)], ",") == 3


def test_each_piece_ends_after_a_newline_outside_quotes() -> None:
    data = b'a,b\n1,"x\ny"\n"p\n""q",3\n4,5'
    pieces = list(record_pieces(io.BytesIO(data), True, None, 3))
    assert b"".join(pieces) == data
    assert pieces[:-1] and all(p.endswith(b"\n") and p.count(b'"') % 2 == 0 for p in pieces[:-1])
    assert pieces[-1] == b"4,5"


def test_an_unbalanced_quote_gives_up_the_count_rather_than_hold_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(piece_counts, "MAX_PIECE_BYTES", 64)
    data = b'a,b\n1,"never closed\n' + b"2,3\n" * 100
    with pytest.raises(ValueError, match="no record ends"):
        list(record_pieces(io.BytesIO(data), True, None, 8))


class _StopAfterReads(io.BytesIO):
    """A file that sets `stop` after its `reads`-th read, noting every read."""

    def __init__(self, data: bytes, stop: threading.Event, reads: int) -> None:
        super().__init__(data)
        self.stop = stop
        self.reads_left = reads
        self.reads = 0

    def read(self, size: int | None = -1, /) -> bytes:
        self.reads += 1
        self.reads_left -= 1
        if self.reads_left == 0:
            self.stop.set()
        return super().read(size)


@pytest.mark.parametrize("csv_separator", [",", None], ids=["csv", "ndjson"])
def test_a_stop_ends_the_count_at_the_next_block(
    csv_separator: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = b'1,"a\nb"\n' if csv_separator else b'{"a":1}\n'
    stop = threading.Event()
    handle = _StopAfterReads(row * 1000, stop, reads=3)
    opener: Callable[[str], IO[bytes]] = lambda _path: handle  # noqa: E731
    monkeypatch.setattr(piece_counts, "COUNT_BLOCK_BYTES", 16)
    with pytest.raises(Interrupted):
        count_file_rows(opener, ["source"], csv_separator, stop)
    assert handle.reads == 3  # of about 500


def test_a_zlib_source_expands_at_most_a_block_per_read() -> None:
    # 20 MB of one repeated row compress to about 20 KB: one read of the compressed
    # file must not expand it all at once (memory follows the block size, not the
    # compression ratio).
    data = b"a,b\n" + b"1,2\n" * 5_000_000
    reader = piece_counts._ZlibReader(io.BytesIO(zlib.compress(data, 9)))
    pieces = list(iter(lambda: reader.read(4096), b""))
    assert b"".join(pieces) == data
    assert max(len(piece) for piece in pieces) == 4096


def test_ndjson_lines_longer_than_a_block_are_counted_holding_a_block_or_two(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before, a line without an end was carried whole (then given up, as 0 rows, past
    # MAX_PIECE_BYTES): a file without newlines cost the daemon that much memory.
    monkeypatch.setattr(piece_counts, "MAX_PIECE_BYTES", 64)
    data = (
        b'{"id":1}\n' + b'{"t":"' + b"x" * 500 + b'"}\n' + b" " * 100 + b"\n" + b"{}" + b"y" * 300
    )
    pieces = list(record_pieces(io.BytesIO(data), False, None, 8))
    assert max(len(piece) for piece in pieces) <= 16
    path = tmp_path / "long.ndjson"
    path.write_bytes(data)
    monkeypatch.setattr(piece_counts, "COUNT_BLOCK_BYTES", 8)
    assert count_file_rows(_opener, [str(path)], None) == 3
