"""SQL text as a redacted export records it: literals masked by DuckDB's tokenizer."""

from __future__ import annotations

import pytest

from sluice.server.execution.masked_sql import masked_literals


@pytest.mark.parametrize(
    ("sql", "recorded"),
    [
        ("email = 'alice@example.com' AND v > 3.5e2", "email = ? AND v > ?"),
        ("name = 'O''Brien' or x in (1, 2) -- 4111111111111111", "name = ? or x in (?, ?) "),
        ("a = $$it's 078-05-1120$$ AND d = DATE '2024-01-02'", "a = ? AND d = DATE ?"),
        ("select /* +1 415 555 2671 */ a from t", "select  a from t"),
        ("\"quoted column\" = 'x'", '"quoted column" = ?'),
        ("unterminated = 'abc", "unterminated = ?"),
        ("", ""),
    ],
)
def test_literals_and_comments_never_survive(sql: str, recorded: str) -> None:
    assert masked_literals(sql) == recorded
