"""A resumed export of a named glob source whose files changed meanwhile fails naming
the source and the file's place, never the file's path (hidden from callers, as the
source's URI is); the daemon's log has the path. The run plans the source again, and
CreateExport's masking of a named source's errors does not apply there."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from sluice.client import ExportClient, ExportFailedError
from tests.daemon import Daemon, create_and_kill_after_chunk
from tests.integration.test_resume_source_changes import CHUNK_ROWS, ROWS, _frame

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _resumed_after(
    daemon_factory,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    label: str,
    extension: str,
    change: Callable[[Path], None],
) -> tuple[Daemon, Path, str]:
    """A named source `events` of `*.{extension}` in a folder under the daemon's sources
    (a.EXT of ROWS rows, b.parquet of 10 for parquet), exported until its first chunk, the
    daemon killed, `change(folder)` made, the daemon started again and the resumed run
    awaited: the daemon, the folder and the failure's message."""
    folder = tmp_path / label / "sources" / "hidden-folder"
    folder.mkdir(parents=True)
    daemon: Daemon = daemon_factory(
        label,
        batch_rows=1024,
        pipeline_queue_depth=2,
        sources={"events": {"uri": str(folder / f"*.{extension}")}},
    )
    daemon.start()
    rows = _frame(list(range(ROWS)))
    if extension == "parquet":
        rows.write_parquet(folder / "a.parquet")
        _frame(list(range(ROWS, ROWS + 10))).write_parquet(folder / "b.parquet")
    elif extension == "jsonl":
        rows.write_ndjson(folder / "a.jsonl")
    else:
        rows.write_csv(folder / "a.csv")
    spec = ExportClient.build_spec(
        source_name="events",
        to=str(daemon.exports),
        dataset=label,
        format="jsonl",
        chunk_rows=CHUNK_ROWS,
    )
    export_id = create_and_kill_after_chunk(daemon, spec, 1)
    change(folder)
    daemon.start()
    with ExportClient(daemon.address) as client, pytest.raises(ExportFailedError) as failed:
        client.wait(export_id, timeout=300)
    message = str(failed.value)
    assert str(folder) not in message and str(tmp_path) not in message
    return daemon, folder, message


def _rewrite(folder: Path) -> None:  # new rows first: every old row moves
    _frame(list(range(-5_000, 0)) + list(range(ROWS))).write_parquet(folder / "a.parquet")


def _remove(folder: Path) -> None:
    (folder / "a.parquet").unlink()


@pytest.mark.parametrize(
    ("change", "shown"),
    [
        (_rewrite, "named source 'events', file 1 of 2"),
        (_remove, "a file of named source 'events' that is no longer there"),
    ],
)
def test_a_named_glob_changed_between_attempts_fails_the_resume_naming_its_place(
    daemon_factory,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    change: Callable[[Path], None],
    shown: str,
) -> None:
    daemon, folder, message = _resumed_after(
        daemon_factory, tmp_path, change.__name__.strip("_"), "parquet", change
    )

    assert message.startswith("FAILED_PRECONDITION"), message
    assert f"source changed since the export started: {shown}" in message
    assert str(folder / "a.parquet") in daemon.log_path.read_text()


def _not_an_object_first(folder: Path) -> None:
    first = folder / "a.jsonl"
    first.write_text('["not an object"]\n' + first.read_text())


def _compressed(folder: Path) -> None:
    first = folder / "a.csv"
    first.write_bytes(gzip.compress(first.read_bytes()))


@pytest.mark.parametrize(
    ("extension", "change", "expected"),
    [
        (
            "jsonl",
            _not_an_object_first,
            "named source 'events', file 1 of 1: line 1 is not a JSON object",
        ),
        ("csv", _compressed, "named source 'events', file 1 of 1 is gzip-compressed"),
    ],
)
def test_a_named_source_refused_when_a_resume_plans_again_names_its_place(
    daemon_factory,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    extension: str,
    change: Callable[[Path], None],
    expected: str,
) -> None:
    """Its first file, now not readable, is named by place."""
    daemon, folder, message = _resumed_after(
        daemon_factory, tmp_path, f"replanned-{extension}", extension, change
    )

    assert expected in message
    first = folder / f"a.{extension}"
    assert f"named source 'events', file 1 of 1 is {first}" in daemon.log_path.read_text()


def _empty(folder: Path) -> None:
    for file in folder.iterdir():
        file.unlink()


def _link_out(folder: Path) -> None:
    second = folder / "b.parquet"
    outside = folder.parent.parent / "elsewhere.parquet"
    second.rename(outside)
    second.symlink_to(outside)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_empty, "named source 'events': no file matches its uri"),
        (_link_out, "named source 'events', file 2 of 2 is outside the source roots"),
    ],
)
def test_a_named_glob_found_otherwise_when_a_resume_plans_again_hides_its_paths(
    daemon_factory,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    change: Callable[[Path], None],
    expected: str,
) -> None:
    """The run expands the glob again: no file left, or one now a symlink out of the
    allowed roots, is said naming the source (and the file's place), not the paths."""
    daemon, folder, message = _resumed_after(
        daemon_factory, tmp_path, f"expanded{change.__name__}", "parquet", change
    )

    assert expected in message
    assert str(folder) in daemon.log_path.read_text()
