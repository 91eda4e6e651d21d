"""The text pass joins a policy's gates into one pattern per scan again for every batch
(compaction's keyword and joined-value scans): the joined text of the same gates is
built once per process, not per batch (the named groups' substitution over the JSON
keys' gates, thousands of characters, cost ~2 ms per batch at moderate)."""

from __future__ import annotations

import polars as pl
import pytest

from sluice.server.pipeline.redaction import entity
from sluice.server.pipeline.source import ROW_INDEX
from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import redactor_for

ROWS = 2_000


def _frame() -> pl.DataFrame:
    messages = [
        f"Order #{n} shipped to the customer, who asked twice about the delivery window."
        for n in range(ROWS)
    ]
    messages[7] = "Reach me at ann@example.com or +1 415-555-0132 about the refund, thanks."
    messages[8] = "Retry with api_key=abcd1234efgh5678 after the window closes, said support."
    return pl.DataFrame(
        {
            "message": messages,
            "referrer": [f"https://shop.example.com/p/{n}" for n in range(ROWS)],
            "cc": [[f"user{n % 50}@example.com"] for n in range(ROWS)],
        }
    ).with_row_index(ROW_INDEX)


def test_a_later_batch_builds_no_joined_pattern_again(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = _frame()
    redactor = redactor_for(frame.drop(ROW_INDEX), RedactionSpec(level="moderate"))
    first = redactor.apply(frame.lazy()).collect()
    assert "[EMAIL]" in first["message"][7] and "[PHONE]" in first["message"][7]
    assert "abcd1234efgh5678" not in first["message"][8]

    substituted: list[str] = []
    named_groups = entity._NAMED_GROUP

    class Counting:
        def sub(self, replacement: str, pattern: str) -> str:
            substituted.append(pattern)
            return named_groups.sub(replacement, pattern)

    monkeypatch.setattr(entity, "_NAMED_GROUP", Counting())
    second = redactor.apply(frame.lazy()).collect()
    assert second.equals(first)
    assert substituted == []
