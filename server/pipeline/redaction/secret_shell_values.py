"""Secrets in a shell array (`TOKENS=(abc def)`, `PASSWORDS=("a" "b")`), apart from
the other layouts after a secret's name (secret_layouts.py) because a shell array's
value has a grammar of its own: bare words or quoted items, which of them a Python
tuple's layout (secret_quoted_values.parenthesised_quoted) takes instead, and what may be
glued after the closing parenthesis. Layouts of the keyword entity SECRET_VALUE, run
where secret_layouts.SECRET_VALUE_LAYOUTS places them.
"""

from __future__ import annotations

from typing import Final

from sluice.server.pipeline.redaction.entity import Entity
from sluice.server.pipeline.redaction.secret_names import ARRAY_NAME

#: What glued to a closing parenthesis makes it no parenthesised value's end (why:
#: secret_quoted_values._CLOSED_VALUE_END): the shell array then takes its items
#: (SHELL_ARRAY_ITEMS_BEFORE_MORE), and a value's "(" forms read it
#: (secret_values.ASSIGNED_START).
GLUED_AFTER_CLOSE = r"(?:[^\s,;&\"')]|\)+[^\s,;&\"')])"


def _item(quote: str) -> str:
    """A quoted item of a parenthesised value, between its quotes (`"a"`, `'it\\'s'`): no
    quote of its kind, line break or parenthesis but escaped."""
    return rf"(?:[^{quote}\n\\()]|\\[^\s()])*"


def _quoted_items(quote: str) -> str:
    """One quoted item or several parted by commas, a comma after them too (`"a"`,
    `"", 'b'`... of one kind of quote), with the spaces around them."""
    item = _item(quote)
    return rf"[ \t]*{quote}{item}{quote}(?:[ \t]*,[ \t]*{quote}{item}{quote})*[ \t]*,?[ \t]*"


def _shell_value_led_by(quote: str) -> str:
    """A shell array's value led by `quote`, to its end on its line, that the shell array
    takes: empty items alone, parted by spaces or commas (`""`, `"" ,''`, `"",`), or what
    is not one quoted item or several parted by commas (`"a"`, `"a", "b"`, `"a",`:
    secret_quoted_values.parenthesised_quoted's): an item no quote closes, one ending in a
    lone backslash, or after a closing quote anything but spaces, a comma and the next
    item's quote (`"a" "b"`, `"a b" c`, `"a", 'b'`). Each way a value can leave that form, so the
    two together take what the shell array's value took before (one line, no
    parenthesis). The engine resolves the groups by running every form still open over
    each character of the match: the first item's leading spaces are read once for all
    of them, and 64 at most. Past 64 the value is read as main's shell array read it,
    whole (`("` then 2000 no-break spaces, `")` cost 2.4x main's CPU with each form
    reading them, ~1.2x now); secret_quoted_values.parenthesised_quoted reads no more
    either, so an item led by more spaces (`PASSWORDS=("` + 65 spaces + `", "pw")`) was in clear."""
    item = _item(quote)
    # After the first item's closing quote: more empty items of its quote, each after a
    # comma (an item after a space or of the other quote is then_closed's, which reads
    # the rest whole: two forms over 700 `" "` items cost 12x main's CPU), more items no
    # quote closes (or ending in a backslash), or items closed, then what is not a
    # comma and the next.
    empty_then = rf"(?:[ \t]*,[ \t]*{quote}[^\S\n]*{quote})*[ \t]*,?"
    backslash_then = r"(?:[ \t][^()\n]*)?"
    open_then = (
        rf"[ \t]*,[ \t]*{quote}{item}(?:{quote}[ \t]*,[ \t]*{quote}{item})*(?:\\{backslash_then})?"
    )
    closed_then = (
        rf"(?:[ \t]*,[ \t]*{quote}{item}{quote})*[ \t]*"
        rf"(?:[^ \t,()\n]|,[ \t]*[^ \t{quote}()\n])[^()\n]*"
    )
    item_then = rf"{item}(?:{quote}(?:{open_then}|{closed_then})|\\{backslash_then})?"
    return (
        rf"{quote}(?:[^\S\n]{{0,64}}(?:{quote}(?:{empty_then}|{open_then}|{closed_then})"
        rf"|\\(?:[^\s()]{item_then}|{backslash_then})|[^\s{quote}\\()]{item_then})?"
        rf"|[^\S\n]{{65}}(?:[^()\n]*[^\s()])?)"
    )


_SHELL_VALUE_LED_BY_QUOTE = "|".join(_shell_value_led_by(quote) for quote in "\"'")


#: A shell array of secrets (`TOKENS=(abc def)`, `declare -a PASSWORDS=( "a" "b" )`,
#: `TOKENS+=(x)`), whole up to its closing parenthesis on its line: the keyword pattern
#: took its first word only (`TOKEN=(abc def)` kept `def` in clear) and a plural name
#: none. Only as a shell writes one: at a line's start (after `export`, `declare -a`,
#: `local`...), after `;`, `&&` or `||`, or after a space (a second array on its line),
#: with no space around "=": in code `f(token=(a or b))` is an argument. A bare
#: `SECRETS` too: its values may be secrets (`SECRETS=(hunter2 s3cr3t)`), and a loop over
#: names of secrets (`SECRETS=(DB_PASSWORD API_KEY)`) over-redacted is the safe failure.
#: With spaces inside the parentheses too (`( abc def )`), taken
#: with the value so `PASSWORD=( a b )` reads as `PASSWORD=(a b)` does after it (the
#: keyword pattern then takes the written array whole). Not one quoted item or several
#: parted by commas (`f(x, password=("hunter2"))`, `Client(host, tokens=("a", "b"))`,
#: whose space before the name reads as a shell's): a Python argument, whose quotes and
#: closing parentheses secret_quoted_values.parenthesised_quoted, run after this one,
#: keeps (the keyword pattern took this one's `([SECRET_VALUE]))` whole, the code's `))`
#: with it). But empty items alone (`PASSWORDS=("")`, `("" ,'')`) are taken, whatever follows: no
#: other layout takes them, and main's did, so null dropped the row. Only values
#: holding "=(" are looked at.
SHELL_ARRAY_SECRET: Final = Entity(
    "SECRET_VALUE",
    "basic",
    r"(?:(?m:^)[ \t]*|[;&|][ \t]*|[ \t])"
    r"(?:(?:export|declare|typeset|local|readonly)(?:[ \t]+-[a-zA-Z]+)*[ \t]+)?"
    rf"{ARRAY_NAME}\+?=\(",
    rf"[ \t]*(?:[^\s()\"'](?:[^()\n]*[^\s()])?"
    rf"|{_SHELL_VALUE_LED_BY_QUOTE})[ \t]*",
    r"\)",
    gate_pattern=r"=\(",
)

#: The shell array's quoted items that SHELL_ARRAY_SECRET leaves to
#: secret_quoted_values.parenthesised_quoted, where more is glued to the closing parenthesis
#: (`password=("x")hunter2`, `PASSWORDS=("",)pw`): taken as main's shell array took them,
#: so the keyword pattern then takes the written array with what is glued to it
#: (`password=[SECRET_VALUE]`). Only there: elsewhere a Python argument keeps its quotes.
SHELL_ARRAY_ITEMS_BEFORE_MORE: Final = Entity(
    "SECRET_VALUE",
    "basic",
    SHELL_ARRAY_SECRET.lead,
    "|".join(_quoted_items(quote) for quote in "\"'"),
    rf"\){GLUED_AFTER_CLOSE}",
    gate_pattern=r"=\(",
)
