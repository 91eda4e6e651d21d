"""Columns with few distinct values are checked once per distinct value, and validated
entities run only where a candidate passes its check: neither shortcut may change what
is found or what is counted."""

from __future__ import annotations

import polars as pl

from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import run

ROWS = 4_000


def test_categorical_text_with_personal_data_in_one_value_is_redacted_per_row() -> None:
    statuses = ["ok", "pending", "escalated to ops@example.com", "closed"]
    frame = pl.DataFrame(
        {
            "status": [statuses[i % 4] for i in range(ROWS)],
            "tags": [["vip", "b2b"] if i % 3 else ["cc a.b@example.org"] for i in range(ROWS)],
            "request": [{"path": "/cart", "note": None if i % 5 else "x"} for i in range(ROWS)],
        }
    )
    out, counts = run(frame, RedactionSpec(level="moderate"))
    expected = [s.replace("ops@example.com", "[EMAIL]") for s in frame["status"].to_list()]
    assert out["status"].to_list() == expected
    assert out["tags"].to_list() == [
        ["vip", "b2b"] if i % 3 else ["cc [EMAIL]"] for i in range(ROWS)
    ]
    assert out["request"].to_list() == frame["request"].to_list()
    assert counts == {"EMAIL/status": ROWS // 4, "EMAIL/tags": len(range(0, ROWS, 3))}


def test_digit_runs_that_are_not_phones_leave_the_rows_untouched_and_uncounted() -> None:
    texts = [
        "order ORD-2025-001234 shipped",
        "tracking 6651022042597629886930 stuck",
        "call +44 20 7946 0123 tomorrow",
        "date 2025-05-12 and card 4111 1111 1111 1112",
        None,
    ] * 50
    out, counts = run(pl.DataFrame({"text": texts}), RedactionSpec(level="moderate"))
    assert out["text"].to_list() == [
        t.replace("+44 20 7946 0123", "[PHONE]") if t else t for t in texts
    ]
    assert counts == {"PHONE/text": 50}
