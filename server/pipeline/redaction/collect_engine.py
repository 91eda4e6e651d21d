"""The Polars engine of every collect inside redaction.

Its frames are a batch's rows already in memory. Polars' default, the streaming engine,
cut them into morsels and ran them as tasks on its executor threads (and a Python
function once per morsel), which cost more CPU than the in-memory engine running each
step once (text-heavy 1M rows, moderate: about 0.25 CPU s of an export's 4.2).
"""

from __future__ import annotations

from typing import Final

IN_MEMORY: Final = "in-memory"
