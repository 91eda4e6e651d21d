"""Under null, a row is dropped where a secret's name, its assignment and a "(" follow,
whatever the layouts find after it (Entity.null_also): main's keyword pattern read the
"(" alone as the value, so null dropped every such row, and the parenthesised layouts
that replaced that reading miss some shapes (a no-break space before the quote, an
unquoted "[" item, code after the quoted item). Null hides at least what main hid."""

from __future__ import annotations

import polars as pl
import pytest

from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import rule, run

NULL = RedactionSpec(level="custom", rules=(rule("pattern=SECRET_VALUE:null"),))

#: The rows the sixth review found shown under null (main dropped them): H1, a no-break
#: space before a quoted item led by "[" or " *"; H2, an unquoted "[" after spaces; H3,
#: a quoted item with code and a ")" later on its line.
NULLED_WHATEVER_FOLLOWS = [
    'f(password=(\xa0"[x] hunter2"), x=1)',
    'token=(\xa0"[SECRET_VALUE] hunter2")',
    'password=(\xa0" *hunter2")',
    'password=(\xa0"[hunter2]")',
    "password=( [hunter2",
    "password=(\t[hunter2",
    "password=(\u3000[hunter2",
    'password=("[x] hunter2" tail_code()',
    'password=("[hunter2]" + f(x)',
    'f(password=(\xa0"[x] hunter2", x=1) tail_code()',
    # The other leads main's keyword pattern had: a comparison with a quote, an
    # Authorization header's scheme.
    'if password == "(hunter2 x)":',
    "Authorization: Token (hunter2",
]


@pytest.mark.parametrize("text", NULLED_WHATEVER_FOLLOWS)
def test_a_name_assigned_a_parenthesis_is_nulled(text: str) -> None:
    out, _ = run(pl.DataFrame({"text": [text]}), NULL)
    assert out["text"][0] is None


#: No assignment between the name and the "(", or no "(" after one: not main's reading,
#: and no other pattern's, so the row is kept.
KEPT = [
    "check_password(user) returned False",
    "reset the password (see docs) and retry",
    "tokens (3) used, api_key (unset)",
    "x = (password)",
]


@pytest.mark.parametrize("text", KEPT)
def test_a_parenthesis_without_a_keyword_assignment_is_kept(text: str) -> None:
    out, _ = run(pl.DataFrame({"text": [text, None]}), NULL)
    assert out["text"].to_list() == [text, None]


def test_only_the_rows_holding_it_are_nulled() -> None:
    texts = ["password=( [hunter2", "ok (fine)", "nothing here", 'password=(\xa0"[x] pw")']
    out, _ = run(pl.DataFrame({"text": texts}), NULL)
    assert out["text"].to_list() == [None, "ok (fine)", "nothing here", None]


def test_list_elements_and_struct_fields_holding_it_are_nulled() -> None:
    frame = pl.DataFrame(
        {
            "tags": [["password=( [hunter2", "ok (x)"], None, ["a"]],
            "s": [{"m": 'token=(\xa0"[x] pw")'}, {"m": "fine (y)"}, None],
        }
    )
    out, _ = run(frame, NULL)
    assert out["tags"].to_list() == [[None, "ok (x)"], None, ["a"]]
    assert out["s"].to_list() == [{"m": None}, {"m": "fine (y)"}, None]
