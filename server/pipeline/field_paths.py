"""How spec.source.schema names a field inside an NDJSON struct column: its path, every
name in double quotes as a JSON string, joined by dots ('"user"."email"',
'"labels"."app.kubernetes.io/name"', '"k8s.pod"."uid"'). Any other name is a top-level
column's, dots and all ("service.name", "user.email"), as it always was: NDJSON logs
name fields with dots, and struct keys hold them too, so a dot alone cannot say which
one a name means. A quoted name of one segment is the column's ('"user.email"')."""

from __future__ import annotations

import json

#: A field's place: its name, and the names of the fields it is within (lists skipped).
FieldPath = tuple[str, ...]

_DECODER = json.JSONDecoder()


def parse_name(name: str) -> FieldPath:
    """The path a spec.source.schema name stands for; ValueError (saying why) for a
    name that opens with a double quote and is no path of quoted names."""
    if not name.startswith('"'):
        return (name,)
    path: list[str] = []
    at = 0
    while True:
        if not name.startswith('"', at):
            raise ValueError('every name of a path is quoted ("user"."email")')
        try:
            segment, at = _DECODER.raw_decode(name, at)
        except ValueError:
            raise ValueError("a quoted name is not a JSON string") from None
        path.append(segment)
        if at == len(name):
            return tuple(path)
        if name[at] != ".":
            raise ValueError("quoted names are joined by dots")
        at += 1


def declared_name(path: FieldPath) -> str:
    """The spec.source.schema name of the field at `path`, parse_name's inverse: the
    column's own name when it reads back as itself through --schema (which splits on
    commas and trims blanks) and in a one-line message, else the quoted path, with
    commas, apostrophes and what does not print escaped (\\u002c)."""
    if len(path) == 1:
        name = path[0]
        if name and name == name.strip() and not name.startswith('"') and all(map(_plain, name)):
            return name
    return ".".join(
        "".join(map(_escaped, json.dumps(segment, ensure_ascii=False))) for segment in path
    )


def _plain(char: str) -> bool:
    return char.isprintable() and char not in ",'"


def _escaped(char: str) -> str:
    if _plain(char):
        return char
    if ord(char) > 0xFFFF:
        return json.dumps(char)[1:-1]  # a surrogate pair, as JSON writes it
    return f"\\u{ord(char):04x}"
