"""Secrets in two tools' settings, apart from the layouts after a secret's name
(secret_layouts.py) because no name-then-assignment leads them: a .NET config's
`<add key="Password" value="…"/>` (the name is an attribute's, the value the next one's)
and curl's `-u`/`--user user:password` (no name at all). Layouts of the keyword entity
SECRET_VALUE, run where secret_layouts.SECRET_VALUE_LAYOUTS places them.
"""

from __future__ import annotations

from typing import Final

from sluice.server.pipeline.redaction.entity import Entity
from sluice.server.pipeline.redaction.secret_names import SECRET_NAME


def _config_value(quote: str) -> str:
    """A setting's value up to the quote that opened it: a backslash and the other quote
    are the value's (`ab\\cd`, `it's`), an escaped quote is not (escaped JSON)."""
    return rf"(?:[^{quote}\s\[\\]|\\[^{quote}\s])(?:[^{quote}\n\\]|\\[^{quote}\n])*"


def config_setting_secret(quote: str) -> Entity:
    """A secret in a .NET config's setting (`<add key="Password" value="hunter2"/>`, as
    web.config and app.config write appSettings): the name is the key attribute's, the
    value the next attribute's, which the keyword pattern (a name then an operator)
    never read. Only values holding `value=` after a quote closing a secret's name are
    looked at (secret_layouts.KEYWORD_SECRET_GATE)."""
    return Entity(
        "SECRET_VALUE",
        "basic",
        rf"(?i:<add\s+key\s*=\s*)\\?[\"']{SECRET_NAME}\\?[\"']\s+(?i:value)\s*=\s*\\?{quote}",
        _config_value(quote),
        rf"\\?{quote}",
        gate_pattern=r"(?i:value)\s*=",
    )


def config_setting_secret_reversed(quote: str) -> Entity:
    """The same with the value first (`<add value="hunter2" key="Password"/>`): the
    key's name is in the trail. Only values holding a quote closing a secret's name
    then the element's end are looked at (secret_layouts.KEYWORD_SECRET_GATE)."""
    return Entity(
        "SECRET_VALUE",
        "basic",
        rf"(?i:<add\s+value\s*=\s*)\\?{quote}",
        _config_value(quote),
        rf"\\?{quote}\s+(?i:key)\s*=\s*\\?[\"']{SECRET_NAME}\\?[\"']",
        gate_pattern=r"(?i:<add\s+value)\s*=",
    )


#: The password of curl's `-u`/`--user user:password` (`curl -u admin:s3cret https://…`,
#: `-uadmin:s3cret`, `-u admin:'s3cret'`), up to a space or quote: no secret's name
#: leads it. Only on a line holding `curl` before
#: the flag, in the same command (`docker run -u 1000:1000` is a uid and gid, after `;`,
#: `|` or `&` too). Only values holding `-u` or
#: `--user`, a user and ":" are looked at (secret_layouts.KEYWORD_SECRET_GATE).
CURL_USER_SECRET: Final = Entity(
    "SECRET_VALUE",
    "basic",
    r"\bcurl\s(?:[^\n;|&]*?\s)?(?:-u(?:\s+|=)?|--user(?:\s+|=))\\?[\"']?[^\s:\"'\\]+:"
    r"\\?[\"']?",
    r"[^\s\"'\[\\][^\s\"'\\]*",
    "",
    gate_pattern=r"-u|--user[\s=]",
)
#: The same in quotes (`--user 'bob:pa ss'`), whole up to the closing quote on its line.
#: Before CURL_USER_SECRET, whose value ends at a space.
CURL_QUOTED_USER_SECRET: Final = Entity(
    "SECRET_VALUE",
    "basic",
    r"\bcurl\s(?:[^\n;|&]*?\s)?(?:-u(?:\s+|=)?|--user(?:\s+|=))\\?[\"'][^\s:\"'\\]+:",
    r"[^\s\"'\[\\][^\"'\n\\]*",
    r"\\?[\"']",
    gate_pattern=CURL_USER_SECRET.gate_pattern,
)
