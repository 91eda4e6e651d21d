"""CSV and NDJSON files read as they were at the size a run journalled
(server/pipeline/snapshot_reads.py), on real files appended to."""

from __future__ import annotations

import gzip
from pathlib import Path

from sluice.server.execution.run_facts import RunFacts, read_as_journalled, source_identity
from sluice.server.pipeline.snapshot_reads import snapshot
from sluice.server.pipeline.source import ResolvedSource, count_rows, file_opener


def _read(path: Path, size: int) -> bytes:
    with path.open("rb") as handle, snapshot(handle, str(path), size) as snap:
        return snap.read()


def test_bytes_appended_after_the_snapshot_are_not_read(tmp_path: Path) -> None:
    log = tmp_path / "a.ndjson"
    log.write_bytes(b'{"a":1}\n{"a":2}\n')
    with log.open("rb") as handle, snapshot(handle, str(log), 16) as snap:
        with log.open("ab") as appending:  # appended after the file was opened
            appending.write(b'{"a":3}\n')
        assert snap.read(4) == b'{"a"'
        assert snap.read() == b':1}\n{"a":2}\n'
        assert snap.read() == b""
        assert snap.seek(0, 2) == 16


def test_a_line_still_being_written_is_left_out_a_last_line_without_newline_is_not(
    tmp_path: Path,
) -> None:
    log = tmp_path / "a.csv"
    log.write_bytes(b"a,b\n1,2\n3,")  # a logger half way through a line
    size = log.stat().st_size
    assert _read(log, size) == b"a,b\n1,2\n3,"  # not grown: the file as it is
    with log.open("ab") as appending:
        appending.write(b"4\n5,6\n")
    assert _read(log, size) == b"a,b\n1,2\n"  # the rest of "3," came after the snapshot


def test_a_compressed_file_is_cut_at_the_size_only(tmp_path: Path) -> None:
    log = tmp_path / "a.ndjson.gz"
    first = gzip.compress(b'{"a":1}\n')
    log.write_bytes(first + gzip.compress(b'{"a":2}\n'))
    assert gzip.decompress(_read(log, len(first))) == b'{"a":1}\n'


def test_every_read_of_a_run_sees_the_journalled_sizes(tmp_path: Path) -> None:
    """The count and the reads of a source bounded by read_as_journalled; a resume
    bounds by the first run's sizes, a file it did not see by the size found now."""
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_bytes(b"x,y\n1,2\n3,4\n")
    source = ResolvedSource(
        uri=str(tmp_path / "*.csv"), format="csv", files=(str(a),), real_files=(str(a),)
    )
    first = RunFacts(source_identity(source))
    with a.open("ab") as appending:
        appending.write(b"5,6\n")
    assert count_rows(source) == 3
    assert count_rows(read_as_journalled(source, None, first)) == 2
    b.write_bytes(b"x,y\n7,8\n")
    grown = ResolvedSource(
        uri=source.uri, format="csv", files=(str(a), str(b)), real_files=(str(a), str(b))
    )
    resumed = read_as_journalled(grown, first, RunFacts(source_identity(grown)))
    assert resumed.read_sizes == ((str(a), 12), (str(b), 8))
    with file_opener(resumed)(str(a)) as handle:
        assert handle.read() == b"x,y\n1,2\n3,4\n"
