"""SQLite and DuckDB files are read only as the file confinement checked: a symlink
swapped in after the plan, or exactly between the check and the driver's open (the
hook point, not a race), is PERMISSION_DENIED and no row is read; and the check holds
no descriptor whose closing would drop a concurrent reader's lock on the file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from sluice.server.errors import PermissionDenied, SluiceError
from sluice.server.pipeline import checked_databases
from sluice.server.pipeline.checked_databases import checked_database
from sluice.server.pipeline.database_source import (
    DatabaseKind,
    DatabaseRead,
    count_rows,
    plan_read,
    read_frames,
    read_schema,
)


def _sqlite(path: Path, rows: range) -> None:
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, secret TEXT)")
        con.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"row {i}") for i in rows])
    con.close()


def _duckdb(path: Path, rows: range) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, secret VARCHAR)")
        con.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"row {i}") for i in rows])


MAKERS: dict[str, Callable[[Path, range], None]] = {"sqlite": _sqlite, "duckdb": _duckdb}


@pytest.fixture(params=["sqlite", "duckdb"])
def planned(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DatabaseRead]:
    """A table planned inside the roots (tmp_path/roots), and a database outside them
    with the same table whose rows must never be read."""
    kind: DatabaseKind = request.param
    (tmp_path / "roots").mkdir()
    inside, outside = tmp_path / "roots" / f"app.{kind}", tmp_path / f"outside.{kind}"
    MAKERS[kind](inside, range(3))
    MAKERS[kind](outside, range(100, 105))
    yield plan_read(kind, str(inside), "t", "", ())


def _swap(path: str) -> None:
    """Put a symlink to the database outside the roots where the checked file was."""
    target = Path(path).parent.parent / f"outside.{Path(path).suffix.lstrip('.')}"
    os.replace(path, path + ".moved")
    os.symlink(target, path)


def _read_all(read: DatabaseRead) -> list[int]:
    schema = read_schema(read)
    return [i for frame in read_frames(read, schema, ["id"], 100, 0) for i in frame["id"]]


def test_a_checked_file_reads_as_planned(planned: DatabaseRead) -> None:
    assert _read_all(planned) == [0, 1, 2]
    assert count_rows(planned) == 3


def test_a_symlink_swapped_in_after_the_plan_is_refused(planned: DatabaseRead) -> None:
    schema = read_schema(planned)
    _swap(planned.path)
    for read in (
        lambda: read_schema(planned),
        lambda: count_rows(planned),
        lambda: list(read_frames(planned, schema, ["id"], 100, 0)),
    ):
        with pytest.raises(PermissionDenied, match=r"spec\.source\.uri") as refused:
            read()
        assert "no longer the database file checked" in str(refused.value)


def test_a_symlink_swapped_between_check_and_open_is_refused(
    planned: DatabaseRead, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = read_schema(planned)
    monkeypatch.setattr(checked_databases, "between_check_and_open", _swap)
    frames = read_frames(planned, schema, ["id"], 100, 0)
    read: list[object] = []
    with pytest.raises(PermissionDenied, match="no longer the database file checked"):
        read.extend(frames)
    assert read == []


def test_the_file_a_driver_opened_must_be_the_checked_one(tmp_path: Path) -> None:
    """The open-file check on its own: the name still leads to the checked file, but
    what was opened meanwhile is another file (a swap and a swap back)."""
    checked, other = tmp_path / "checked.db", tmp_path / "other.db"
    checked.write_bytes(b"x")
    other.write_bytes(b"y")
    with checked_database(str(checked)) as verify:
        with open(other, "rb"), pytest.raises(PermissionDenied):
            verify(None)
        with open(checked, "rb"):
            verify(None)
            verify(str(checked))
            with pytest.raises(PermissionDenied):
                verify(str(other))
    # Already open in the process (a driver may share that handle): no new one needed.
    with open(checked, "rb"), checked_database(str(checked)) as verify:
        verify(None)


def test_checking_a_file_keeps_a_concurrent_readers_lock(tmp_path: Path) -> None:
    """SQLite's read lock is a POSIX lock, which closing any descriptor of the file
    opened for reading would drop: a check by another export meanwhile must not let a
    writer (another process) in under the open read transaction."""
    path = tmp_path / "locked.db"
    _sqlite(path, range(3))
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (3,)
    with checked_database(str(path)) as verify:
        verify(None)
    writer = (
        "import sqlite3, sys\n"
        "con = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)\n"
        "try:\n"
        "    con.execute('BEGIN EXCLUSIVE')\n"
        "except sqlite3.OperationalError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", writer, str(path)], capture_output=True, text=True, check=True
    )
    reader.close()
    assert "locked" in done.stdout


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_a_named_sources_swapped_file_is_named_by_the_source_not_its_path(
    kind: DatabaseKind, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A named source hides where its file is: a swap after the plan, or between the
    check and the driver's open, put the file's path in the error."""
    (tmp_path / "roots").mkdir()
    inside = tmp_path / "roots" / f"hidden-place.{kind}"
    MAKERS[kind](inside, range(3))
    MAKERS[kind](tmp_path / f"outside.{kind}", range(100, 105))
    planned = plan_read(kind, str(inside), "t", "", (), source_name="shop")
    schema = read_schema(planned)
    monkeypatch.setattr(checked_databases, "between_check_and_open", _swap)
    with pytest.raises(PermissionDenied) as between:
        list(read_frames(planned, schema, ["id"], 100, 0))
    monkeypatch.undo()
    with pytest.raises(PermissionDenied) as after:  # the symlink _swap left
        count_rows(planned)
    for refused in (between, after):
        message = str(refused.value)
        assert "named source 'shop' is no longer the database file checked" in message
        assert "hidden-place" not in message and str(tmp_path) not in message, message


def test_a_named_duckdb_source_replaced_by_another_file_is_named_not_located(
    tmp_path: Path,
) -> None:
    """DuckDB's own words for a file it cannot open quote its path (`The file "…" exists,
    but it is not a valid DuckDB database file!`)."""
    (tmp_path / "roots").mkdir()
    inside = tmp_path / "roots" / "hidden-place.duckdb"
    _duckdb(inside, range(3))
    planned = plan_read("duckdb", str(inside), "t", "", (), source_name="shop")
    replacement = tmp_path / "roots" / "new.duckdb"
    replacement.write_bytes(b"not a database " * 1000)
    os.replace(replacement, inside)
    with pytest.raises(SluiceError) as refused:
        count_rows(planned)
    message = str(refused.value)
    assert message.startswith("spec.source.uri: named source 'shop': cannot open"), message
    assert "hidden-place" not in message and str(tmp_path) not in message, message
