"""SQL text as a redacted export records it: literals masked.

A `where` or a database query is recorded in the manifest and the report so a reader
knows what was selected; its literals are often the very values redaction hides (`email
= 'alice@example.com'`). Under redaction each string and number literal becomes `?` and
comments are dropped, found by DuckDB's own SQL tokenizer (a server dependency), so
quotes inside strings, `''` escapes and dollar quoting are read as SQL reads them; hex,
binary and octal numbers (`0x616c…`, which the tokenizer splits in two) are masked whole. Text
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
        return _masked(sql.encode("utf-8"), [(start, kind.name) for start, kind in tokens])
    except Exception:  # noqa: BLE001 - unreadable text is recorded as nothing but "?"
        return _MASKED


_LITERALS = {"string_const", "numeric_const"}
_COMMENT = "comment"
_WORDS = {"identifier", "keyword"}


def _masked(text: bytes, tokens: list[tuple[int, str]]) -> str:
    """`text` with the literal and comment `tokens` (UTF-8 byte offset, kind) masked.

    The tokenizer's offsets count UTF-8 bytes, not characters: the bytes are sliced and
    the pieces decoded, or any non-ASCII character before a literal would shift the mask.
    A word glued to a literal is part of it: DuckDB reads `0x616c` (hex), `0b101` and
    `0o17` as the number `0` followed by the identifier `x616c`, `b101`, `o17`.
    """
    pieces: list[str] = []
    done = 0
    masked_until = -1
    for index, (start, kind) in enumerate(tokens):
        glued = kind in _WORDS and start == masked_until
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
        done = stop
    pieces.append(text[done:].decode("utf-8"))
    return "".join(pieces)
