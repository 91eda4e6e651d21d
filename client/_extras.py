"""The optional parts of an install (pip extras) and the one-line message naming the one to
add. `pip install sluice` is the client and the CLI; the daemon (`server`), format
conversion in `sluice export read` (`read`) and reading exports from S3 or Azure (`cloud`)
each need an extra (pyproject.toml)."""

from __future__ import annotations

from typing import Literal

Extra = Literal["server", "read", "cloud"]


def install_hint(what: str, extra: Extra, missing: ImportError) -> str:
    """One line: `what` cannot run without `extra`, the module that was missing, and the
    command that installs it."""
    if missing.name:
        cause = f"{missing.name} is not installed"
    else:
        # A C extension that failed to load names no module; its message says why.
        cause = (str(missing).strip().splitlines() or ["an import failed"])[0]
    return f"{what} needs the {extra} extra ({cause}): pip install 'sluice[{extra}]'"
