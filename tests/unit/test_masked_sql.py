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


@pytest.mark.parametrize(
    ("sql", "recorded"),
    [
        ("name = 'Zoë' AND email = 'alice@x.com'", "name = ? AND email = ?"),
        ("\"名前名前名前名前\" = 'alice@example.com'", '"名前名前名前名前" = ?'),
        (
            "name = 'ëëëëëëëë' OR email = 'alice.sentinel@example.com'",
            "name = ? OR email = ?",
        ),
        (
            "\"café\" = 'ü' AND n = 42 AND s = '🙂🙂' AND e = 'x@y.z'",
            '"café" = ? AND n = ? AND s = ? AND e = ?',
        ),
        ("-- 🙂 comment\nemail = 'a@b.c'", "\nemail = ?"),
        ("\"🙂\" = 'déjà vu' /* ñ */ AND k = 7", '"🙂" = ?  AND k = ?'),
    ],
)
def test_non_ascii_text_before_a_literal_does_not_shift_the_mask(sql: str, recorded: str) -> None:
    """DuckDB's tokenizer reports offsets in UTF-8 bytes, not characters."""
    assert masked_literals(sql) == recorded


@pytest.mark.parametrize(
    ("sql", "recorded"),
    [
        (
            "email = CAST(0x616c6963652e73656e74696e656c406578616d706c652e636f6d AS VARCHAR)",
            "email = CAST(? AS VARCHAR)",
        ),
        ("a = 0b101 AND b = 0o17 AND c = 0XFF", "a = ? AND b = ? AND c = ?"),
        ("a = 0b1_01 OR b = 0xffAND", "a = ? OR b = ?"),
        (
            "a = 1e5 AND b = 1_000 AND c = .5 AND d = -3 AND e = 1.5e-3",
            "a = ? AND b = ? AND c = ? AND d = -? AND e = ?",
        ),
        ("a = 12.5e3x AND b = 0x1e5", "a = ? AND b = ?"),
        (
            "a = U&'d\\0061t' AND b = E'x' AND c = X'41' AND d = B'01'",
            "a = U&? AND b = ? AND c = ? AND d = ?",
        ),
        ("x IN (0x1,0x2)", "x IN (?,?)"),
    ],
)
def test_hex_binary_octal_and_other_number_forms_are_masked_whole(sql: str, recorded: str) -> None:
    """DuckDB reads `0x616c` as the number 0 followed by the identifier `x616c`."""
    assert masked_literals(sql) == recorded


@pytest.mark.parametrize(
    ("sql", "recorded"),
    [
        ('email <> "alice.sentinel@example.com"', "email <> ?"),
        ('"email" <> "a@b.c" AND "ID" > 2', '"email" <> ? AND "ID" > ?'),
        ('"we""ird" = 1', "? = ?"),
    ],
)
def test_sqlite_double_quoted_text_naming_no_column_is_masked(sql: str, recorded: str) -> None:
    """SQLite reads `"…"` as a string when no column has that name (DuckDB: identifier)."""
    assert masked_literals(sql, sqlite_columns=frozenset({"email", "id"})) == recorded
    assert masked_literals(sql) == sql.replace("2", "?").replace("= 1", "= ?")


@pytest.mark.parametrize(
    ("sql", "recorded"),
    [
        ("email = 'a'and id = 1", "email = ?and id = ?"),
        ("id = 1and email = 'a'", "id = ?and email = ?"),
        ("id = 0or email = 'a'", "id = ?or email = ?"),
        ("email = 'a'or id = 0x1F", "email = ?or id = ?"),
    ],
)
def test_a_keyword_glued_to_a_literal_is_kept(sql: str, recorded: str) -> None:
    assert masked_literals(sql) == recorded
