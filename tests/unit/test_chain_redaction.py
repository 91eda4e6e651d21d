"""A keyed chain keeps its redaction: what is compared, and what is not."""

from __future__ import annotations

from typing import Any

import pytest

from sluice.format.manifest import RedactionInfo
from sluice.server.committed.catalog import CommittedExport
from sluice.server.errors import FailedPrecondition
from sluice.server.planning.chain_redaction import check_chain_redaction
from sluice.server.planning.incremental_plan import IncrementPlan

MODERATE: dict[str, Any] = {
    "level": "moderate",
    "rules": [],
    "patterns": [{"rule": "EMAIL", "action": "redact"}],
    "hash_keys": {},
    "columns": {"email": {"rule": "EMAIL", "action": "redact"}},
    "counts_are": "records in which the rule changed the column",
}


def _increment(policy: dict[str, Any], key: tuple[str, ...] = ("email",)) -> IncrementPlan:
    parent = CommittedExport(
        "p1", "people", "people/p1/manifest.json", "", "", None, 0, 0, 0, None,
        redaction=RedactionInfo(policy, {"EMAIL": {"email": 3}}),
    )  # fmt: skip
    return IncrementPlan("incremental", parent, key=key)


def test_the_same_policy_continues_even_with_a_new_column() -> None:
    grown = {**MODERATE, "columns": {**MODERATE["columns"], "phone": {"rule": "PHONE"}}}
    check_chain_redaction(_increment(MODERATE), grown)
    # JSON round trip: tuples where the manifest has lists.
    check_chain_redaction(_increment(MODERATE), {**MODERATE, "rules": ()})


@pytest.mark.parametrize(
    "changed",
    [
        {**MODERATE, "level": "none"},
        {**MODERATE, "columns": {"email": {"rule": "hash", "action": "hash"}}},
        {**MODERATE, "hash_keys": {"default": "k2"}},
    ],
)
def test_another_policy_or_key_redaction_is_refused(changed: dict[str, Any]) -> None:
    with pytest.raises(FailedPrecondition, match=r"p1.*--mode full"):
        check_chain_redaction(_increment(MODERATE), changed)


def test_full_exports_and_unkeyed_chains_are_not_checked() -> None:
    check_chain_redaction(IncrementPlan("full", key=("email",)), MODERATE)
    check_chain_redaction(_increment(MODERATE, key=()), {"level": "none"})
