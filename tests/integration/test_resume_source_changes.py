"""A resumed export continues the export its first run began, or fails saying why: the
first run journals its source files (path, size, mtime), its parent and, keyed, the key
pass's fingerprint (server/execution/run_facts.py). A source rewritten, or a file added
to the glob, between a SIGKILL and the restart; a keyed source whose already-sent row
changed; an increment resumed after a newer sibling committed: each fails the resumed
run FAILED_PRECONDITION, and the chunks already written stay as they were (no manifest:
nothing commits mixing two sources)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import polars as pl
import pytest

from sluice.client import ExportClient, ExportFailedError, FailedPreconditionError
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, create_and_kill_after_chunk
from tests.integration.helpers import load_manifest, read_export

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROWS = 40_000
CHUNK_ROWS = 2_000


def _frame(ids: list[int], value: int = 0) -> pl.DataFrame:
    return pl.DataFrame({"id": ids, "v": [value] * len(ids), "txt": [f"row {i}" for i in ids]})


def _stored(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def _slow(daemon_factory, name: str) -> Daemon:  # type: ignore[no-untyped-def]
    daemon: Daemon = daemon_factory(name, batch_rows=1024, pipeline_queue_depth=2)
    daemon.start()
    return daemon


def _fails_resumed(daemon: Daemon, export_id: str, folder: Path) -> str:
    """Restart `daemon`; the resumed run must fail FAILED_PRECONDITION, keeping every
    chunk the first run wrote as it was, and commit nothing. Returns the message."""
    parts = {n: d for n, d in _stored(folder).items() if n.startswith("part-") and "tmp" not in n}
    assert parts, "no chunk was written before the crash"
    daemon.start()
    with ExportClient(daemon.address) as client, pytest.raises(ExportFailedError) as failed:
        client.wait(export_id, timeout=300)
    assert failed.value.code == "FAILED_PRECONDITION", failed.value
    after = _stored(folder)
    assert "manifest.json" not in after
    assert {n: after.get(n) for n in parts} == parts
    return str(failed.value)


@pytest.mark.parametrize("change", ["rewritten", "file_added_first"])
def test_a_source_changed_between_attempts_fails_the_resume_naming_the_file(
    daemon_factory,  # type: ignore[no-untyped-def]
    change: str,
) -> None:
    daemon = _slow(daemon_factory, f"changed-{change}")
    folder = daemon.sources / change
    folder.mkdir()
    _frame(list(range(ROWS))).write_parquet(folder / "b.parquet")
    uri = str(folder / ("b.parquet" if change == "rewritten" else "*.parquet"))
    spec = ExportClient.build_spec(
        source=uri, to=str(daemon.exports), dataset=change, format="jsonl", chunk_rows=CHUNK_ROWS
    )
    export_id = create_and_kill_after_chunk(daemon, spec, 1)
    new_rows = list(range(ROWS, ROWS + 5_000))
    if change == "rewritten":  # new rows first: every old row moves by 5,000 positions
        changed = folder / "b.parquet"
        _frame(new_rows + list(range(ROWS))).write_parquet(changed)
    else:  # a.parquet sorts first in the glob
        changed = folder / "a.parquet"
        _frame(new_rows).write_parquet(changed)
    message = _fails_resumed(daemon, export_id, daemon.exports / change / export_id)
    assert f"source changed since the export started: {changed}" in message
    assert "start the export again as a new export" in message


def test_an_unchanged_source_still_resumes(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    # The same file, only read again (its mtime and size as they were): the run continues.
    daemon = _slow(daemon_factory, "unchanged")
    _frame(list(range(ROWS))).write_parquet(daemon.sources / "b.parquet")
    spec = ExportClient.build_spec(
        source=str(daemon.sources / "b.parquet"), to=str(daemon.exports), dataset="same",
        format="jsonl", chunk_rows=CHUNK_ROWS,
    )  # fmt: skip
    export_id = create_and_kill_after_chunk(daemon, spec, 1)
    daemon.start()
    with ExportClient(daemon.address) as client:
        finished = client.wait(export_id, timeout=300)
    assert "resumes after chunk" in daemon.log_tail(400)
    assert read_export(finished.manifest_uri)["id"].to_list() == list(range(ROWS))


def _write_table(path: Path, frame: pl.DataFrame) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE IF NOT EXISTS k (id INTEGER PRIMARY KEY, v INTEGER, txt TEXT)")
        db.execute("DELETE FROM k")
        db.executemany("INSERT INTO k VALUES (?, ?, ?)", frame.rows())
    db.close()


def test_a_keyed_increment_resumed_over_a_changed_database_fails_and_loses_no_update(
    daemon_factory,  # type: ignore[no-untyped-def]
) -> None:
    """Night 2 sends every row (all updated) and is killed after two chunks; row 7, in
    chunk 0 already, changes again before the restart. Resuming would send row 7's old
    value while its index recorded the new one: night 3 would never send it. The resume
    fails instead, and the next night (a new export) sends row 7 as it is now."""
    daemon = _slow(daemon_factory, "keyed-db")
    path = daemon.sources / "k.db"
    _write_table(path, _frame(list(range(ROWS))))

    def spec(mode: str) -> pb.ExportSpec:
        return ExportClient.build_spec(
            source=f"sqlite://{path}", table="k", to=str(daemon.exports), dataset="k",
            format="jsonl", chunk_rows=CHUNK_ROWS,
            incremental=pb.Incremental(mode=mode, key=["id"]),
        )  # fmt: skip

    with ExportClient(daemon.address) as client:
        client.wait(client.create(spec("full")).id, timeout=300)
    _write_table(path, _frame(list(range(ROWS)), value=1))
    night2 = create_and_kill_after_chunk(daemon, spec("incremental"), 1)
    _write_table(path, _frame(list(range(ROWS)), value=1).with_columns(
        pl.when(pl.col("id") == 7).then(2).otherwise(pl.col("v")).alias("v")
    ))  # fmt: skip
    index_before = _stored(daemon.exports / "k" / night2)["index.arrows"]
    message = _fails_resumed(daemon, night2, daemon.exports / "k" / night2)
    assert "the key pass found other rows (or the same rows at other positions)" in message
    # Refused before the key pass stored anything: the first run's index is as it was.
    assert _stored(daemon.exports / "k" / night2)["index.arrows"] == index_before
    with ExportClient(daemon.address) as client:
        night3 = client.wait(client.create(spec("incremental")).id, timeout=300)
    sent = read_export(night3.manifest_uri)
    assert sent.filter(pl.col("id") == 7)["v"].to_list() == [2]
    assert sent.height == ROWS  # against night 1: every row changed


def test_an_increment_resumed_after_a_newer_sibling_fails(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """Night 2 is cancelled mid-way; the night runs again as a new export (2b), which
    commits; resuming night 2 would take 2b as its parent while its chunks hold the
    changes since night 1: refused, naming both."""
    daemon = _slow(daemon_factory, "sibling")
    source = daemon.sources / "k.parquet"
    _frame(list(range(ROWS))).write_parquet(source)

    def spec(mode: str) -> pb.ExportSpec:
        return ExportClient.build_spec(
            source=str(source), to=str(daemon.exports), dataset="k", format="jsonl",
            chunk_rows=CHUNK_ROWS, incremental=pb.Incremental(mode=mode, key=["id"]),
        )  # fmt: skip

    with ExportClient(daemon.address) as client:
        night1 = client.wait(client.create(spec("full")).id, timeout=300).id
        _frame(list(range(ROWS)), value=1).write_parquet(source)
        night2 = client.create(spec("incremental")).id
        for event in client.watch(night2):
            if event.HasField("chunk_committed"):
                break
        client.cancel(night2)
        with pytest.raises(ExportFailedError):
            client.wait(night2, timeout=300)
        night2b = client.wait(client.create(spec("incremental")).id, timeout=300).id
        client.resume(night2)
        with pytest.raises(ExportFailedError) as failed:
            client.wait(night2, timeout=300)
    assert failed.value.code == "FAILED_PRECONDITION", failed.value
    assert f"the dataset has an export ({night2b}) newer than this increment's parent " in str(
        failed.value
    )
    assert f"({night1})" in str(failed.value)


def test_two_increments_of_a_chain_at_once_the_second_is_refused(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """Both would take the same parent and send the same changes (a forked chain): the
    second CreateExport, while the first is unfinished, is refused naming it."""
    daemon = _slow(daemon_factory, "at-once")
    source = daemon.sources / "k.parquet"
    _frame(list(range(ROWS))).write_parquet(source)

    def spec(mode: str) -> pb.ExportSpec:
        return ExportClient.build_spec(
            source=str(source), to=str(daemon.exports), dataset="k", format="jsonl",
            chunk_rows=CHUNK_ROWS, incremental=pb.Incremental(mode=mode, key=["id"]),
        )  # fmt: skip

    with ExportClient(daemon.address) as client:
        night1 = client.wait(client.create(spec("full")).id, timeout=300).id
        _frame(list(range(ROWS)), value=1).write_parquet(source)
        first = client.create(spec("incremental")).id
        with pytest.raises(FailedPreconditionError) as refused:
            client.create(spec("incremental"))
        assert f"export {first}, an increment of dataset 'k'" in str(refused.value)
        finished = client.wait(first, timeout=300)
        assert load_manifest(finished.manifest_uri)["parent_export_id"] == night1
        # Once it ended, the next increment continues from it.
        second = client.wait(client.create(spec("incremental")).id, timeout=300)
    assert load_manifest(second.manifest_uri)["parent_export_id"] == first


def _keyed_csv_spec(daemon: Daemon, source: Path, mode: str) -> pb.ExportSpec:
    return ExportClient.build_spec(
        source=str(source), to=str(daemon.exports), dataset="k", format="jsonl",
        chunk_rows=CHUNK_ROWS, incremental=pb.Incremental(mode=mode, key=["id"]),
    )  # fmt: skip


def test_a_keyed_file_rewritten_with_its_rows_reordered_fails_the_resume(
    daemon_factory,  # type: ignore[no-untyped-def]
) -> None:
    """The same rows in another order, same size and mtime (as an S3 object rewritten to
    the same size looks): the key pass sees the same digests at other positions. The
    chunks written hold the rows at the earlier positions, so resuming would send some
    ids twice and miss others: refused, and neither the chunks nor the key index the
    first run stored are replaced."""
    daemon = _slow(daemon_factory, "reordered")
    source = daemon.sources / "k.csv"
    _frame(list(range(ROWS))).write_csv(source)
    with ExportClient(daemon.address) as client:
        client.wait(client.create(_keyed_csv_spec(daemon, source, "full")).id, timeout=300)
    _frame(list(range(ROWS)), value=1).write_csv(source)
    first = os.stat(source)
    night2 = create_and_kill_after_chunk(daemon, _keyed_csv_spec(daemon, source, "incremental"), 1)
    folder = daemon.exports / "k" / night2
    index_before = _stored(folder)["index.arrows"]
    _frame(list(range(ROWS)), value=1).reverse().write_csv(source)
    os.utime(source, ns=(first.st_atime_ns, first.st_mtime_ns))
    assert os.stat(source).st_size == first.st_size
    message = _fails_resumed(daemon, night2, folder)
    assert "the same rows at other positions" in message
    assert _stored(folder)["index.arrows"] == index_before


def test_a_keyed_file_only_touched_still_resumes(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """A new mtime, the same content (a `touch`, a replica's own copy): the key pass's
    fingerprint (every row's digests and position) is as at the first run, so the
    resume continues and the export holds every changed row once."""
    daemon = _slow(daemon_factory, "touched")
    source = daemon.sources / "k.csv"
    _frame(list(range(ROWS))).write_csv(source)
    with ExportClient(daemon.address) as client:
        client.wait(client.create(_keyed_csv_spec(daemon, source, "full")).id, timeout=300)
    _frame(list(range(ROWS)), value=1).write_csv(source)
    night2 = create_and_kill_after_chunk(daemon, _keyed_csv_spec(daemon, source, "incremental"), 1)
    stat = os.stat(source)
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    daemon.start()
    with ExportClient(daemon.address) as client:
        finished = client.wait(night2, timeout=300)
    assert "resumes after chunk" in daemon.log_tail(400)
    assert read_export(finished.manifest_uri)["id"].to_list() == list(range(ROWS))


def test_a_glob_gaining_a_file_that_sorts_last_resumes_and_exports_it(
    daemon_factory,  # type: ignore[no-untyped-def]
) -> None:
    """A daily partition arriving mid-export (its name sorts after every file the first
    run saw): the earlier rows keep their positions, so the resume continues and exports
    the new file's rows after them, as a new export over the glob would."""
    daemon = _slow(daemon_factory, "gained-last")
    folder = daemon.sources / "daily"
    folder.mkdir()
    _frame(list(range(ROWS))).write_parquet(folder / "2026-12-06.parquet")
    spec = ExportClient.build_spec(
        source=str(folder / "*.parquet"), to=str(daemon.exports), dataset="daily",
        format="jsonl", chunk_rows=CHUNK_ROWS,
    )  # fmt: skip
    export_id = create_and_kill_after_chunk(daemon, spec, 1)
    _frame(list(range(ROWS, ROWS + 5_000))).write_parquet(folder / "2026-12-07.parquet")
    daemon.start()
    with ExportClient(daemon.address) as client:
        finished = client.wait(export_id, timeout=300)
    assert "resumes after chunk" in daemon.log_tail(400)
    assert read_export(finished.manifest_uri)["id"].to_list() == list(range(ROWS + 5_000))
