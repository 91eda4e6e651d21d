"""A resumed export of a named glob source whose files changed meanwhile fails naming
the source and the file's place, never the file's path (hidden from callers, as the
source's URI is); the daemon's log has the path."""

from __future__ import annotations

import gzip

import pytest

from sluice.client import ExportClient, ExportFailedError
from tests.daemon import create_and_kill_after_chunk
from tests.integration.test_resume_source_changes import CHUNK_ROWS, ROWS, _frame

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("change", ["rewritten", "removed"])
def test_a_named_glob_changed_between_attempts_fails_the_resume_naming_its_place(
    daemon_factory,  # type: ignore[no-untyped-def]
    tmp_path,  # type: ignore[no-untyped-def]
    change: str,
) -> None:
    # Under the daemon's sources folder (its allowed source root).
    folder = tmp_path / f"named-{change}" / "sources" / "hidden-folder"
    folder.mkdir(parents=True)
    daemon = daemon_factory(
        f"named-{change}",
        batch_rows=1024,
        pipeline_queue_depth=2,
        sources={"events": {"uri": str(folder / "*.parquet")}},
    )
    daemon.start()
    _frame(list(range(ROWS))).write_parquet(folder / "a.parquet")
    _frame(list(range(ROWS, ROWS + 10))).write_parquet(folder / "b.parquet")
    spec = ExportClient.build_spec(
        source_name="events",
        to=str(daemon.exports),
        dataset=change,
        format="jsonl",
        chunk_rows=CHUNK_ROWS,
    )
    export_id = create_and_kill_after_chunk(daemon, spec, 1)
    first = folder / "a.parquet"
    if change == "rewritten":  # new rows first: every old row moves
        _frame(list(range(-5_000, 0)) + list(range(ROWS))).write_parquet(first)
    else:
        first.unlink()
    daemon.start()
    with ExportClient(daemon.address) as client, pytest.raises(ExportFailedError) as failed:
        client.wait(export_id, timeout=300)

    message = str(failed.value)
    assert failed.value.code == "FAILED_PRECONDITION", message
    shown = (
        "named source 'events', file 1 of 2"
        if change == "rewritten"
        else "a file of named source 'events' that is no longer there"
    )
    assert f"source changed since the export started: {shown}" in message
    assert str(folder) not in message
    assert str(first) in daemon.log_path.read_text()


@pytest.mark.parametrize(
    ("extension", "expected"),
    [
        ("jsonl", "named source 'events', file 1 of 1: line 1 is not a JSON object"),
        ("csv", "named source 'events', file 1 of 1 is gzip-compressed"),
    ],
)
def test_a_named_source_refused_when_a_resume_plans_again_names_its_place(
    daemon_factory,  # type: ignore[no-untyped-def]
    tmp_path,  # type: ignore[no-untyped-def]
    extension: str,
    expected: str,
) -> None:
    """The run plans the source again (CreateExport's planning hides a named source's
    errors, the run's did not): its first file, now not readable, is named by place."""
    folder = tmp_path / f"replanned-{extension}" / "sources" / "hidden-folder"
    folder.mkdir(parents=True)
    daemon = daemon_factory(
        f"replanned-{extension}",
        batch_rows=1024,
        pipeline_queue_depth=2,
        sources={"events": {"uri": str(folder / f"*.{extension}")}},
    )
    daemon.start()
    first = folder / f"a.{extension}"
    rows = _frame(list(range(ROWS)))
    if extension == "jsonl":
        rows.write_ndjson(first)
    else:
        rows.write_csv(first)
    spec = ExportClient.build_spec(
        source_name="events",
        to=str(daemon.exports),
        dataset=extension,
        format="jsonl",
        chunk_rows=CHUNK_ROWS,
    )
    export_id = create_and_kill_after_chunk(daemon, spec, 1)
    if extension == "jsonl":
        first.write_text('["not an object"]\n' + first.read_text())
    else:
        first.write_bytes(gzip.compress(first.read_bytes()))
    daemon.start()
    with ExportClient(daemon.address) as client, pytest.raises(ExportFailedError) as failed:
        client.wait(export_id, timeout=300)

    message = str(failed.value)
    assert expected in message
    assert str(folder) not in message
    assert f"named source 'events', file 1 of 1 is {first}" in daemon.log_path.read_text()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("emptied", "named source 'events': no file matches its uri"),
        ("linked_out", "named source 'events', file 2 of 2 is outside the source roots"),
    ],
)
def test_a_named_glob_found_otherwise_when_a_resume_plans_again_hides_its_paths(
    daemon_factory,  # type: ignore[no-untyped-def]
    tmp_path,  # type: ignore[no-untyped-def]
    change: str,
    expected: str,
) -> None:
    """The run expands the glob again: no file left, or one now a symlink out of the
    allowed roots, is said naming the source (and the file's place), not the paths."""
    folder = tmp_path / f"expanded-{change}" / "sources" / "hidden-folder"
    folder.mkdir(parents=True)
    daemon = daemon_factory(
        f"expanded-{change}",
        batch_rows=1024,
        pipeline_queue_depth=2,
        sources={"events": {"uri": str(folder / "*.parquet")}},
    )
    daemon.start()
    _frame(list(range(ROWS))).write_parquet(folder / "a.parquet")
    _frame(list(range(ROWS, ROWS + 10))).write_parquet(folder / "b.parquet")
    spec = ExportClient.build_spec(
        source_name="events",
        to=str(daemon.exports),
        dataset=change,
        format="jsonl",
        chunk_rows=CHUNK_ROWS,
    )
    export_id = create_and_kill_after_chunk(daemon, spec, 1)
    second = folder / "b.parquet"
    if change == "emptied":
        for file in folder.iterdir():
            file.unlink()
    else:
        outside = tmp_path / "elsewhere.parquet"
        second.rename(outside)
        second.symlink_to(outside)
    daemon.start()
    with ExportClient(daemon.address) as client, pytest.raises(ExportFailedError) as failed:
        client.wait(export_id, timeout=300)

    message = str(failed.value)
    assert expected in message
    assert str(folder) not in message and str(tmp_path) not in message
    assert str(folder) in daemon.log_path.read_text()
