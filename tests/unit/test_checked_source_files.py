"""A source file is read as it was checked: a symlink swapped in after the confinement
check (the window between planning and the run's reads) is refused, and nothing of the
file it points to outside the allowed source roots is read (nor named in a refusal)."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from sluice.server.errors import InvalidArgument, PermissionDenied
from sluice.server.pipeline.reader import read_batches
from sluice.server.pipeline.source import resolve_source, scan

FORMATS = ("parquet", "csv", "ndjson", "ipc")


def _write(frame: pl.DataFrame, path: Path, fmt: str) -> None:
    {
        "parquet": frame.write_parquet,
        "csv": frame.write_csv,
        "ndjson": frame.write_ndjson,
        "ipc": frame.write_ipc,
    }[fmt](path)


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    return root, outside


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("glob", [False, True])
def test_a_symlink_swapped_in_after_the_check_is_not_followed(
    roots: tuple[Path, Path], fmt: str, glob: bool
) -> None:
    root, outside = roots
    allowed = root / f"data.{fmt}"
    _write(pl.DataFrame({"value": ["allowed"]}), allowed, fmt)
    secret = outside / f"secret.{fmt}"
    _write(pl.DataFrame({"value": ["SECRET-OUTSIDE"]}), secret, fmt)
    uri = str(root / f"*.{fmt}") if glob else str(allowed)
    source = resolve_source(uri, fmt, [root])
    schema = scan(source).collect_schema()

    allowed.unlink()
    os.symlink(secret, allowed)  # swapped in after the check, before the run reads

    read: list[pl.DataFrame] = []
    with pytest.raises(PermissionDenied, match="no longer the file checked") as refused:
        read.extend(read_batches(source, schema, ["value"], batch_rows=100))
    assert str(refused.value).startswith("spec.source.uri: ")
    assert read == []
    assert "SECRET" not in str(refused.value)


def test_a_file_checked_through_a_symlink_inside_the_roots_is_read(
    roots: tuple[Path, Path],
) -> None:
    root, _ = roots
    target = root / "real.csv"
    pl.DataFrame({"value": ["a", "b"]}).write_csv(target)
    link = root / "link.csv"
    os.symlink(target, link)
    source = resolve_source(str(link), "csv", [root])
    schema = scan(source).collect_schema()
    frames = list(read_batches(source, schema, ["value"], batch_rows=100))
    assert pl.concat(frames)["value"].to_list() == ["a", "b"]


def test_a_parquet_file_swapped_while_it_is_read_is_still_the_checked_one(
    roots: tuple[Path, Path],
) -> None:
    # Polars reopens a Parquet file by name for every slice: a swap after the first
    # batch must not send it to the outside file.
    root, outside = roots
    allowed = root / "data.parquet"
    pl.DataFrame({"value": [f"allowed {i}" for i in range(1000)]}).write_parquet(
        allowed, row_group_size=100
    )
    secret = outside / "secret.parquet"
    pl.DataFrame({"value": ["SECRET-OUTSIDE"] * 1000}).write_parquet(secret, row_group_size=100)
    source = resolve_source(str(allowed), "parquet", [root])
    schema = scan(source).collect_schema()
    batches = read_batches(source, schema, ["value"], batch_rows=100)
    frames = [next(batches)]
    allowed.rename(root / "moved.parquet")
    os.symlink(secret, allowed)
    frames.extend(batches)
    values = pl.concat(frames)["value"].to_list()
    assert values == [f"allowed {i}" for i in range(1000)]


def test_a_glob_match_resolving_outside_the_roots_is_refused_naming_it(
    roots: tuple[Path, Path],
) -> None:
    root, outside = roots
    pl.DataFrame({"value": ["a"]}).write_csv(root / "a.csv")
    pl.DataFrame({"value": ["SECRET"]}).write_csv(outside / "secret.csv")
    os.symlink(outside / "secret.csv", root / "b.csv")
    with pytest.raises(InvalidArgument) as refused:
        resolve_source(str(root / "*.csv"), "csv", [root])
    message = str(refused.value)
    assert message.startswith(f"spec.source.uri: {root / 'b.csv'} is outside the source roots")
    assert str(outside) not in message  # where the symlink leads is the server's business
    assert "allowed_source_roots" in message


def test_a_root_that_is_a_symlink_holds_the_files_under_its_target(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    pl.DataFrame({"value": ["a"]}).write_csv(target / "a.csv")
    link = tmp_path / "link"
    os.symlink(target, link)
    source = resolve_source(str(link / "*.csv"), "csv", [link])
    assert source.files == (str(link / "a.csv"),)
    assert source.real_files == (str(target / "a.csv"),)


@pytest.mark.parametrize("from_row", [0, 650, 1040])
def test_parquet_files_read_through_their_fd_links_give_their_own_rows(
    roots: tuple[Path, Path], from_row: int
) -> None:
    # One file after another reuses the same fd number, so the same /proc/self/fd name:
    # each must still read its own file (row groups of different sizes).
    root, _ = roots
    layouts = {"a": (range(700), 70), "b": (range(1000, 1333), 333), "c": (range(5000, 5010), 3)}
    expected: list[int] = []
    for name, (values, group) in layouts.items():
        pl.DataFrame({"v": list(values)}).write_parquet(
            root / f"{name}.parquet", row_group_size=group
        )
        expected += list(values)
    for _ in range(2):
        source = resolve_source(str(root / "*.parquet"), "parquet", [root])
        schema = scan(source).collect_schema()
        frames = read_batches(source, schema, ["v"], batch_rows=50, from_row=from_row)
        assert pl.concat(list(frames))["v"].to_list() == expected[from_row:]
