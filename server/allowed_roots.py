"""Confinement of local paths to configured roots (sources, destinations, admin reads)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

#: Characters of URL queries, user-info and connection strings, rare in real paths.
_PASTED_MARKS = ("?", "@", "=", ";")

_log = logging.getLogger(__name__)


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
    path: str | Path,
    roots: Sequence[Path],
    what: str,
    setting: str,
    flag: str,
    sent: str | None = None,
) -> str:
    """ "" when `path` lies within `roots`; else a message naming where the roots are
    configured (the config key, its SLUICE_ environment variable, the serve flag). `sent`
    is the path as the caller gave it, when `path` is a resolved form of it."""
    if within_roots(path, roots):
        return ""
    return outside_message(path, roots, what, setting, flag, sent)


def outside_message(
    path: str | Path,
    roots: Sequence[Path],
    what: str,
    setting: str,
    flag: str,
    sent: str | None = None,
) -> str:
    """The message for `path` lying outside `roots` (see outside_roots). It names only
    what the caller sent (`sent`, else `path`), never the roots nor where a symlink leads:
    those tell a caller how the server's filesystem is laid out, so they go to the
    daemon's log only. A path holding `?`, `@`, `=` or `;` is not echoed nor logged: it is
    more likely a signed URL or a connection string pasted where a path belongs."""
    text = str(path) if sent is None else sent
    pasted = any(mark in text for mark in _PASTED_MARKS)
    if pasted:
        shown = "this path (not shown: it holds ?, @, = or ;)"
    else:
        shown = text if len(text) <= 300 else text[:300] + "..."
    listed = ", ".join(str(root) for root in roots)
    if pasted:
        _log.info("refused a %s path outside the %s roots (%s)", what, what, listed)
    else:
        _log.info(
            "refused %s path %s (resolved: %s): outside the %s roots (%s)",
            what,
            shown,
            os.path.realpath(path),
            what,
            listed,
        )
    return (
        f"{shown} is outside the {what} roots this server allows; the daemon's operator "
        f"sets them with {setting} in its config file, SLUICE_{setting.upper()} or "
        f"`sluice serve {flag} DIR`"
    )
