"""A keyed chain keeps its redaction.

A key-only increment writes tombstones for deleted rows with the key values its parent
exported (unsealed from the parent's index), and it tells inserted from changed rows by
comparing digests of exported values. Under another redaction than the parent's, the
tombstones would carry key values as the parent redacted them, not as this export
promises (a moderate child of a `none` parent would write deleted rows' e-mail
addresses in clear), or keys the consumer never received (a `none` child of a hashed
parent), and the consumer's table would mix rows redacted two ways. So a keyed
increment must run with its parent's redaction; another one starts a new chain.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sluice.server.errors import FailedPrecondition
from sluice.server.planning.incremental_plan import IncrementPlan

#: What the manifest's redaction records about the exported schema rather than the
#: policy: which column each rule claimed (compared for the key columns only, so a
#: column added to the source does not end a chain), and a fixed note.
_PER_SCHEMA = frozenset({"columns", "counts_are", "counts"})


def check_chain_redaction(increment: IncrementPlan, described: Mapping[str, Any]) -> None:
    """Raise FailedPrecondition when a keyed increment's redaction (`described`, as the
    manifest will record it) is not its parent's."""
    parent = increment.parent
    if parent is None or not increment.key or increment.mode != "incremental":
        return
    recorded = parent.redaction.policy if parent.redaction is not None else {}
    before = _as_compared(recorded, increment.key)
    now = _as_compared(described, increment.key)
    if before == now:
        return
    differing = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
    raise FailedPrecondition(
        f"the parent export {parent.export_id} was redacted at level "
        f"{_level(before)}, this export asks for level {_level(now)} "
        f"(differing: {', '.join(differing)}); a keyed increment writes its parent's key "
        "values into its tombstones, so it must use its parent's redaction. Start a new "
        "chain with a full export (--mode full --key ...) to change the redaction"
    )


def _as_compared(policy: Mapping[str, Any], key: tuple[str, ...]) -> dict[str, Any]:
    """The policy as JSON values (as a manifest holds it), with only the key columns'
    entries of its per-column description."""
    compared = {k: v for k, v in policy.items() if k not in _PER_SCHEMA}
    columns = policy.get("columns")
    claimed = columns if isinstance(columns, Mapping) else {}
    compared["key columns"] = {column: claimed.get(column) for column in key}
    normalised: dict[str, Any] = json.loads(json.dumps(compared, sort_keys=True, default=str))
    return normalised


def _level(policy: Mapping[str, Any]) -> str:
    level = policy.get("level")
    return repr(level) if isinstance(level, str) and level else "(not recorded)"
