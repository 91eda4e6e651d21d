"""A secret as the text of an XML element naming it (`<password>hunter2</password>`),
pretty-printed on lines of its own or in a CDATA section: layouts of the keyword entity
SECRET_VALUE (secret_layouts.py), run before its own pattern."""

from __future__ import annotations

from typing import Final

from sluice.server.pipeline.redaction.entity import Entity
from sluice.server.pipeline.redaction.secret_names import SECRET_NAME
from sluice.server.pipeline.redaction.written_forms import WRITTEN

# An XML element naming a secret: also with a namespace prefix (`<db:password>`) or
# attributes on its line (`<password type="x">`), not closed at once (`<password/>`).
_SECRET_ELEMENT_OPEN = (
    rf"<(?:[A-Za-z_][A-Za-z0-9_.-]*:)?{SECRET_NAME}(?:[ \t](?:[^<>\n]*[^<>/\n])?)?>"
)
# Lines of an element's value after its first: enough for a pretty-printed key (a
# 4096-bit one's base64 takes 52 lines of 64), so an element no "</" closes near by
# does not take pages of text up to the next one (`<password>a` and a megabyte of
# lines before `</x>`). An element whose value runs on longer has as many of its lines
# redacted (LONG_SECRET_ELEMENT).
ELEMENT_MORE_LINES: Final = 63
# An element's value: its first line (also one starting with what an earlier rule
# wrote, when more of the value follows it), then its further lines, each starting with
# its first non-space character.
_ELEMENT_FIRST_LINE = rf"(?:[^<\[\s]|{WRITTEN}[ \t]*(?:[\r\n]\s*)?[^<\s])[^<\r\n]*"
_ELEMENT_NEXT_LINE = r"[\r\n]\s*[^<\s][^<\r\n]*"


#: A secret as an XML element's text (`<password>hunter2</password>`), whole up to the
#: next "<", also pretty-printed on lines of its own (`<password>\n  s3cr3t\n</password>`:
#: the line breaks and indent around it are context; its own lines are the value). Each
#: further line starts with its first non-space character, so the split between lines is
#: unambiguous (no backtracking blow-up under Python `re`). Only values holding "</"
#: are looked at.
SECRET_ELEMENT: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{_SECRET_ELEMENT_OPEN}\s*",
    rf"{_ELEMENT_FIRST_LINE}(?:{_ELEMENT_NEXT_LINE}){{0,{ELEMENT_MORE_LINES}}}",
    r"\s*</",
    gate_pattern="</",
)
#: An element whose value runs on past SECRET_ELEMENT's lines (a longer key, or an
#: element no "</" closes near by): its first lines, as many as SECRET_ELEMENT takes,
#: up to the next line of the value. SECRET_ELEMENT left all of it in clear, first
#: line included. After SECRET_ELEMENT, with its gate (one search for "</" serves
#: both): it finds only the elements that one left, since what that one wrote is
#: followed by the "</" closing it, not by a further line.
LONG_SECRET_ELEMENT: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{_SECRET_ELEMENT_OPEN}\s*",
    rf"{_ELEMENT_FIRST_LINE}(?:{_ELEMENT_NEXT_LINE}){{{ELEMENT_MORE_LINES}}}",
    r"[\r\n]\s*[^<\s]",
    gate_pattern="</",
)
#: The same in a CDATA section (`<password><![CDATA[s3cr3t]]></password>`): the value
#: is what the section holds (a "]" in it too, unless two close it), whole up to its
#: end; a value may not start with "<", so SECRET_ELEMENT left it in clear. Same gate
#: as SECRET_ELEMENT, before it: one search for "</" serves both.
SECRET_CDATA: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{_SECRET_ELEMENT_OPEN}\s*<!\[CDATA\[\s*",
    rf"[^\[\]\s](?:[^\]]|\][^\]])*|{WRITTEN}(?:[^\]]|\][^\]])*[^\]\s]",
    r"\]\]>\s*</",
    gate_pattern="</",
)


#: In the order they run: the CDATA section first, then the element, then the lines of
#: one that runs on past SECRET_ELEMENT's (each says why).
SECRET_ELEMENT_LAYOUTS: Final = (SECRET_CDATA, SECRET_ELEMENT, LONG_SECRET_ELEMENT)
