"""Source globs, matched folder by folder with bounded work.

A pattern is split into folder segments: `*`, `?` and `[...]` match within one folder
name, `**` alone matches any number of folders (and, last, any file). Matching runs the
pattern as a small automaton over the path (a set of pattern positions per folder), so
its cost grows with the folders visited, never with the number of `**` (recursive
matchers and Python's glob revisit a tree once per `**`: 8-34 s per request measured).

A local glob is expanded in one walk under its literal prefix that visits only folders
the pattern can still match, and that walk is bounded: a pattern past these limits is
refused, naming `spec.source.uri`, instead of tying up the daemon.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

from sluice.server.errors import InvalidArgument

_FIELD = "spec.source.uri"
_MAGIC = frozenset("*?[")
#: `**` segments a pattern may hold (one is almost always enough).
MAX_DOUBLE_STARS = 4
#: Folders one local expansion may visit, and how deep below the literal prefix.
MAX_FOLDERS = 10_000
MAX_DEPTH = 32
#: Files (or listed objects) one pattern may match: every one is in the plan.
MAX_FILES = 100_000

States = frozenset[int]


def has_magic(text: str) -> bool:
    return any(char in _MAGIC for char in text)


def check_pattern(segments: Sequence[str]) -> None:
    """Refuse patterns with more `**` segments than MAX_DOUBLE_STARS."""
    stars = sum(1 for segment in segments if segment == "**")
    if stars > MAX_DOUBLE_STARS:
        raise InvalidArgument(
            _FIELD, f"a pattern may hold at most {MAX_DOUBLE_STARS} '**' segments, not {stars}"
        )


def too_many_files(count: int) -> InvalidArgument:
    return InvalidArgument(
        _FIELD, f"the pattern matches more than {MAX_FILES} files; narrow it ({count} so far)"
    )


class SegmentMatcher:
    """Matches names, folder by folder, against a pattern's segments."""

    def __init__(self, segments: Sequence[str], *, hidden_needs_dot: bool) -> None:
        check_pattern(segments)
        self._segments = tuple(segments)
        # Python's glob: `*` and `**` skip names starting with "." unless the segment does.
        self._hidden_needs_dot = hidden_needs_dot
        self.start: States = self._closure((0,))

    def step(self, states: States, name: str) -> States:
        """The positions reachable after one more folder (or file) called `name`."""
        following: set[int] = set()
        for index in states:
            if index == len(self._segments):
                continue
            segment = self._segments[index]
            if segment == "**":
                if not self._hidden(segment, name):
                    following.add(index)
            elif not self._hidden(segment, name) and fnmatchcase(name, segment):
                following.add(index + 1)
        return self._closure(following)

    def accepts(self, states: States) -> bool:
        return len(self._segments) in states

    def matches(self, parts: Iterable[str]) -> bool:
        states = self.start
        for name in parts:
            states = self.step(states, name)
            if not states:
                return False
        return self.accepts(states)

    def _hidden(self, segment: str, name: str) -> bool:
        return self._hidden_needs_dot and name.startswith(".") and not segment.startswith(".")

    def _closure(self, states: Iterable[int]) -> States:
        # A `**` may also match no folder at all.
        reached: set[int] = set()
        pending = list(states)
        while pending:
            index = pending.pop()
            if index in reached:
                continue
            reached.add(index)
            if index < len(self._segments) and self._segments[index] == "**":
                pending.append(index + 1)
        return frozenset(reached)


def expand_local(pattern: str) -> list[str]:
    """The files an absolute local glob names, sorted; directories are not matched.

    Symbolic links to folders are followed as Python's glob does (the caller checks each
    file against the allowed roots); the folder and depth bounds stop link loops.
    """
    segments = pattern.split(os.sep)
    first_magic = next(i for i, segment in enumerate(segments) if has_magic(segment))
    start = os.sep.join(segments[:first_magic]) or os.sep
    matcher = SegmentMatcher(segments[first_magic:], hidden_needs_dot=True)
    files: list[str] = []
    visited = 0
    pending: list[tuple[str, States, int]] = [(start, matcher.start, 0)]
    while pending:
        folder, states, depth = pending.pop()
        visited += 1
        if visited > MAX_FOLDERS:
            raise InvalidArgument(
                _FIELD,
                f"the pattern reaches more than {MAX_FOLDERS} folders; narrow it "
                "(a longer literal prefix, fewer '**')",
            )
        try:
            with os.scandir(folder) as entries:
                listed = list(entries)
        except OSError:
            continue  # unreadable or vanished: as glob, it matches nothing there
        for entry in listed:
            reached = matcher.step(states, entry.name)
            if not reached:
                continue
            if _is_dir(entry):
                if depth + 1 > MAX_DEPTH:
                    raise InvalidArgument(
                        _FIELD, f"the pattern reaches more than {MAX_DEPTH} folders deep"
                    )
                pending.append((entry.path, reached, depth + 1))
            elif matcher.accepts(reached) and _is_file(entry):
                files.append(entry.path)
                if len(files) > MAX_FILES:
                    raise too_many_files(len(files))
    return sorted(files)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False
