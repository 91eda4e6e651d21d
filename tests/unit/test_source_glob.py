"""Local globs match as Python's glob does, with bounded work."""

from __future__ import annotations

import glob
import os
import time
from pathlib import Path

import pytest

from sluice.server.errors import InvalidArgument
from sluice.server.pipeline import source_glob
from sluice.server.pipeline.source_glob import SegmentMatcher, expand_local


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in (
        "a.csv",
        "b.parquet",
        ".hidden.csv",
        "x/a.csv",
        "x/y/a.csv",
        "x/y/z/b.csv",
        "x/.h/a.csv",
        ".dot/a.csv",
        "q/x/y/a.csv",
        "q/r/x/s/y/a.csv",
    ):
        path = tmp_path / "t" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("id\n1\n")
    (tmp_path / "t" / "x" / "y" / "dir.csv").mkdir()
    return tmp_path / "t"


@pytest.mark.parametrize(
    "pattern",
    [
        "*.csv",
        "**/*.csv",
        "**",
        "x/**/a.csv",
        "**/x/**/y/*.csv",
        "*/*/*.csv",
        "x/?/[ab].csv",
        ".*/*.csv",
        "**/.h/*.csv",
        "**/**/**/a.csv",
    ],
)
def test_matches_what_python_glob_matches(tree: Path, pattern: str) -> None:
    full = f"{tree}/{pattern}"
    # As a set: glob yields a file once per way its `**`s can split the path (the old
    # expansion then read such a file several times).
    expected = sorted({p for p in glob.glob(full, recursive=True) if os.path.isfile(p)})
    assert expand_local(full) == expected


def test_many_double_stars_are_refused_before_any_walk(tree: Path) -> None:
    pattern = "/".join(["**"] * (source_glob.MAX_DOUBLE_STARS + 1)) + "/*.csv"
    with pytest.raises(InvalidArgument, match="'\\*\\*' segments") as raised:
        expand_local(f"{tree}/{pattern}")
    assert raised.value.violations[0].field == "spec.source.uri"


def test_walks_are_bounded(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source_glob, "MAX_FOLDERS", 3)
    with pytest.raises(InvalidArgument, match="more than 3 folders"):
        expand_local(f"{tree}/**/*.csv")
    monkeypatch.setattr(source_glob, "MAX_FOLDERS", 10_000)
    monkeypatch.setattr(source_glob, "MAX_DEPTH", 2)
    with pytest.raises(InvalidArgument, match="more than 2 folders deep"):
        expand_local(f"{tree}/**/*.csv")
    monkeypatch.setattr(source_glob, "MAX_DEPTH", 32)
    monkeypatch.setattr(source_glob, "MAX_FILES", 2)
    with pytest.raises(InvalidArgument, match="more than 2 files"):
        expand_local(f"{tree}/**/*.csv")


def test_matching_cost_does_not_grow_with_double_stars() -> None:
    # A recursive matcher tries every split of the path per `**`: 40 folders and four
    # `**` would be ~10^5 tries per key; the automaton does one pass.
    matcher = SegmentMatcher(["**", "**", "**", "**", "nope"], hidden_needs_dot=False)
    parts = [f"d{i}" for i in range(40)] + ["x.csv"]
    started = time.monotonic()
    for _ in range(200):
        assert not matcher.matches(parts)
    assert time.monotonic() - started < 5
