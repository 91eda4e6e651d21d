"""SQL text as a redacted export records it: literals masked.

A `where` or a database query is recorded in the manifest and the report so a reader
knows what was selected; its literals are often the very values redaction hides (`email
= 'alice@example.com'`). Under redaction each string and number literal becomes `?` and
comments are dropped, found by DuckDB's own SQL tokenizer (a server dependency), so
quotes inside strings, `''` escapes and dollar quoting are read as SQL reads them; hex,
binary and octal numbers (`0x616c…`, which the tokenizer splits in two) are masked whole. Text
the tokenizer cannot read is recorded as `?` whole (not as a digest: a plain digest of a
short `where` would confirm a guessed value). SQLite reads `"…"` as a string when no column
has that name, where the tokenizer reads a name: for SQLite, such text naming none of the
given columns is masked too (a name masked costs only readability).
"""

from __future__ import annotations

from collections.abc import Collection

_MASKED = "?"


def masked_literals(sql: str, *, sqlite_columns: Collection[str] | None = None) -> str:
    """`sql` with its string and number literals replaced by `?` and comments removed.

    `sqlite_columns`: the SQL is SQLite's, and these are the column names a double-quoted
    token may name; any other double-quoted token is a string there, and masked."""
    if not sql.strip():
        return sql
    import duckdb  # the server extra; imported where used, as the sources do

    try:
        tokens = duckdb.tokenize(sql)
        text = sql.encode("utf-8")
        kinds = [(start, kind.name) for start, kind in tokens]
        if sqlite_columns is not None:
            kinds = _sqlite_strings(text, kinds, {c.casefold() for c in sqlite_columns})
        return _masked(text, kinds)
    except Exception:  # noqa: BLE001 - unreadable text is recorded as nothing but "?"
        return _MASKED


_NUMBER = "numeric_const"
_LITERALS = {"string_const", _NUMBER}
_COMMENT = "comment"
_IDENTIFIER = "identifier"


def _sqlite_strings(
    text: bytes, tokens: list[tuple[int, str]], columns: set[str]
) -> list[tuple[int, str]]:
    """`tokens` with each double-quoted one naming none of `columns` (SQLite compares
    names without case) read as the string SQLite reads it as."""
    kinds: list[tuple[int, str]] = []
    for index, (start, kind) in enumerate(tokens):
        if kind == _IDENTIFIER and text[start : start + 1] == b'"':
            end = tokens[index + 1][0] if index + 1 < len(tokens) else len(text)
            quoted = text[start:end].rstrip()
            name = quoted[1:-1].replace(b'""', b'"').decode("utf-8")
            if not quoted.endswith(b'"') or len(quoted) < 2 or name.casefold() not in columns:
                kind = "string_const"
        kinds.append((start, kind))
    return kinds


def _masked(text: bytes, tokens: list[tuple[int, str]]) -> str:
    """`text` with the literal and comment `tokens` (UTF-8 byte offset, kind) masked.

    The tokenizer's offsets count UTF-8 bytes, not characters: the bytes are sliced and
    the pieces decoded, or any non-ASCII character before a literal would shift the mask.
    An identifier glued to a number is part of it: DuckDB reads `0x616c` (hex), `0b101`
    and `0o17` as the number `0` followed by the identifier `x616c`, `b101`, `o17` (and
    `12.5e3x` as `12.5e3` and `x`). A keyword is never glued (`'a'and id = 1` keeps its
    `and`): no hex, binary or octal digits spell one.
    """
    pieces: list[str] = []
    done = 0
    masked_until = -1
    number_until = -1
    for index, (start, kind) in enumerate(tokens):
        glued = kind == _IDENTIFIER and start == number_until
        if kind not in _LITERALS and kind != _COMMENT and not glued:
            continue
        end = tokens[index + 1][0] if index + 1 < len(tokens) else len(text)
        stop = start + len(text[start:end].rstrip())
        pieces.append(text[done:start].decode("utf-8"))
        if kind == _COMMENT:
            masked_until = -1
        else:
            if start != masked_until:
                pieces.append(_MASKED)
            masked_until = stop
            number_until = stop if kind == _NUMBER else -1
        done = stop
    pieces.append(text[done:].decode("utf-8"))
    return "".join(pieces)
