"""SQL text as a redacted export records it: literals masked.

A `where` or a database query is recorded in the manifest and the report so a reader
knows what was selected; its literals are often the very values redaction hides (`email
= 'alice@example.com'`). Under redaction each string and number literal becomes `?` and
comments are dropped, found by DuckDB's own SQL tokenizer (a server dependency), so
quotes inside strings, `''` escapes and dollar quoting are read as SQL reads them. Text
the tokenizer cannot read is recorded as `?` whole (not as a digest: a plain digest of a
short `where` would confirm a guessed value).
"""

from __future__ import annotations

_MASKED = "?"


def masked_literals(sql: str) -> str:
    """`sql` with its string and number literals replaced by `?` and comments removed."""
    if not sql.strip():
        return sql
    import duckdb  # the server extra; imported where used, as the sources do

    try:
        tokens = duckdb.tokenize(sql)
        text = sql.encode("utf-8")
    except Exception:  # noqa: BLE001 - unreadable text is recorded as nothing but "?"
        return _MASKED
    # The tokenizer's offsets count UTF-8 bytes, not characters: slice the bytes and
    # decode the pieces, or any non-ASCII character before a literal shifts the mask.
    hidden = {duckdb.token_type.string_const, duckdb.token_type.numeric_const}
    comment = duckdb.token_type.comment
    pieces: list[str] = []
    done = 0
    for index, (start, kind) in enumerate(tokens):
        if kind not in hidden and kind != comment:
            continue
        end = tokens[index + 1][0] if index + 1 < len(tokens) else len(text)
        token = text[start:end].rstrip()
        pieces.append(text[done:start].decode("utf-8"))
        pieces.append(_MASKED if kind in hidden else "")
        done = start + len(token)
    pieces.append(text[done:].decode("utf-8"))
    return "".join(pieces)
