"""Confinement of local paths to configured roots (sources, destinations, admin reads)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

#: Characters of URL queries, user-info and connection strings, rare in real paths.
_PASTED_MARKS = ("?", "@", "=", ";")


def within_roots(path: str | Path, roots: Sequence[Path]) -> bool:
    """True when `path`, with `..` and symlinks resolved, is a root or lies under one."""
    return real_within(os.path.realpath(path), resolved_roots(roots))


def resolved_roots(roots: Sequence[Path]) -> tuple[str, ...]:
    """`roots` with `..` and symlinks resolved: resolved once for checking many paths."""
    return tuple(os.path.realpath(root) for root in roots)


def real_within(real: str, real_roots: Sequence[str]) -> bool:
    """True when the resolved path `real` is one of the resolved roots or lies under one."""
    for real_root in real_roots:
        if real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep):
            return True
    return False


def outside_roots(
    path: str | Path, roots: Sequence[Path], what: str, setting: str, flag: str
) -> str:
    """ "" when `path` lies within `roots`; else a message naming the roots and where they
    are configured (the config key, its SLUICE_ environment variable, the serve flag)."""
    if within_roots(path, roots):
        return ""
    return outside_message(path, roots, what, setting, flag)


def outside_message(
    path: str | Path, roots: Sequence[Path], what: str, setting: str, flag: str
) -> str:
    """The message for `path` lying outside `roots` (see outside_roots). A path holding
    `?`, `@`, `=` or `;` is not echoed: it is more likely a signed URL or a connection
    string pasted where a path belongs, and the message reaches logs and traces."""
    text = str(path)
    if any(mark in text for mark in _PASTED_MARKS):
        shown = "this path (not shown: it holds ?, @, = or ;)"
    else:
        shown = text if len(text) <= 300 else text[:300] + "..."
    listed = ", ".join(str(root) for root in roots)
    return (
        f"{shown} is outside the allowed {what} roots ({listed}); the daemon's operator sets "
        f"them with {setting} in its config file, SLUICE_{setting.upper()} or "
        f"`sluice serve {flag} DIR`"
    )
