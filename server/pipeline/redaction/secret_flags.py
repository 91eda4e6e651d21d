"""Secrets after a command-line flag (`--password x`, `--api-key "a b"`), for the
keyword entity SECRET_VALUE (secret_layouts.py), and the AWS secret key after the CLI's
flag, a layout of AWS_SECRET_KEY.
"""

from __future__ import annotations

from typing import Final

from sluice.server.pipeline.redaction.entity import Entity
from sluice.server.pipeline.redaction.secret_names import CREDENTIAL_NAMES, PW_SUFFIXED_NAME
from sluice.server.pipeline.redaction.secret_quoted_values import (
    escape_aware_text,
    escaped_quote_text,
    quoted_start,
)
from sluice.server.pipeline.redaction.secret_values import ASSIGNED_REST, WRITTEN_THEN_MORE

# A command-line flag naming a secret, and the space before its value (`--password `,
# `--db-pass `, `--api-key `): a keyword and a space are prose too, so only after "--".
_FLAG_NAME = rf"--(?i:[a-z0-9_-]*?{CREDENTIAL_NAMES}|{PW_SUFFIXED_NAME})\s+"


def quoted_flag(quote: str, *, escaped: bool) -> Entity:
    """A quoted secret after a command-line flag (`--password "correct horse"`), whole up
    to the closing quote of the same kind on its line, as quoted_secret takes one after
    an assignment: SECRET_FLAG's value ends at a space and left the words after the
    first in clear. Inside quotes a value may start with "-" (`"-x y"`) or after
    spaces (`" a b"`): the quote, not the next flag, says where it starts. After a
    plain quote an escaped one is the value's (escape_aware_text: `--password "it\\"s
    x"` kept `s x`); after an escaped quote (`escaped`), the escaped quote closes it
    (escaped_quote_text). Not a value starting with what an earlier rule wrote (a tag
    and words after it read as a tag written in place of a quoted value). Before
    SECRET_FLAG, which then finds the value written in its place. Only values holding
    "--"."""
    opening = rf"\\{quote}" if escaped else quote
    return Entity(
        "SECRET_VALUE",
        "basic",
        rf"{_FLAG_NAME}{opening}[ \t]*",
        escaped_quote_text(quote) if escaped else escape_aware_text(quote),
        rf"\\{quote}|{quote}" if escaped else quote,
        gate_pattern="--",
    )


def quoted_flag_either_quote(quote: str) -> Entity:
    """The last quoted layout after a flag, as quoted_secret_either_quote after an
    assignment: between quotes either escaped or not, up to the first
    (`--password "a b\\" c` left `b\\" c` in clear); the value reads no escape."""
    return Entity(
        "SECRET_VALUE",
        "basic",
        rf"{_FLAG_NAME}\\?{quote}[ \t]*",
        rf"{quoted_start(quote)}{ASSIGNED_REST}[^{quote}\n\\]*",
        rf"\\?{quote}",
        gate_pattern="--",
    )


#: A secret after a command-line flag and a space (`--password hunter2`, `--db-pass x`,
#: `--api-key x`). Not a value led by "-" (the next flag), nor by an assignment
#: (`--password = x`, `--token => x`, `--db-password : x`: the keyword pattern takes the
#: value after it, as it did before this layout). A value may start with an escape
#: (`\u00e9` in a JSON string): the lead took its backslash, and wrote
#: `\[SECRET_VALUE]`, no JSON escape. Only values holding "--".
SECRET_FLAG: Final = Entity(
    "SECRET_VALUE",
    "basic",
    _FLAG_NAME,
    rf"(?:[^\s\"',;&\[\\=:\uff1a-]|\\[^\s\"']|{WRITTEN_THEN_MORE}){ASSIGNED_REST}",
    "",
    gate_pattern="--",
)
#: The same after a quote no closing one follows (`--password "x`, a line cut short):
#: after a quote, "=" or ":" is the value's own (`--password "=x`).
SECRET_FLAG_OPEN_QUOTE: Final = Entity(
    "SECRET_VALUE",
    "basic",
    rf"{_FLAG_NAME}\\?[\"']",
    rf"(?:[^\s\"',;&\[\\-]|\\[^\s\"']|{WRITTEN_THEN_MORE}){ASSIGNED_REST}",
    "",
    gate_pattern="--",
)
#: The AWS secret key after the CLI's flag and a space (`--aws-secret-access-key …`).
AWS_SECRET_FLAG: Final = Entity(
    "AWS_SECRET_KEY",
    "basic",
    r"--(?i:aws-secret-(?:access-)?key)\s+",
    r"[A-Za-z0-9/+=]{40}",
    "",
    gate_pattern="--",
)
