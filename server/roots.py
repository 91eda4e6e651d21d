"""Confinement of local paths to configured roots (sources, destinations, admin reads)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def within_roots(path: str | Path, roots: Sequence[Path]) -> bool:
    """True when `path`, with `..` and symlinks resolved, is a root or lies under one."""
    real = os.path.realpath(path)
    for root in roots:
        real_root = os.path.realpath(root)
        if real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep):
            return True
    return False
