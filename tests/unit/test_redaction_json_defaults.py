"""Inside JSON text, a key named like a strict column that is masked or generalised (a
birth date, an account or card number) has its value replaced with the category's tag,
as the column would be touched: a mask or a generalisation has no form there.
(Coordinates under keys of their own are the GEO_COORDINATES entity's, as on main.)"""

from __future__ import annotations

import polars as pl
import pytest

from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import rule, run

CASES = [
    ('{"dob": "1990-05-06"}', '{"dob": "[DOB]"}'),
    ('{"dob": 19900506}', '{"dob": "[DOB]"}'),
    ('{"date_of_birth": "06/05/1990"}', '{"date_of_birth": "[DOB]"}'),
    ('{"account_number": "31926819"}', '{"account_number": "[IBAN]"}'),
    ('{"card_number": "ab12"}', '{"card_number": "[CARD]"}'),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_strict_tags_json_values_of_strict_columns(text: str, expected: str) -> None:
    out, counts = run(pl.DataFrame({"payload": [text]}), RedactionSpec(level="strict"))
    assert out["payload"].to_list() == [expected]
    assert sum(counts.values()) == 1


@pytest.mark.parametrize(("text", "_expected"), CASES)
def test_moderate_leaves_them(text: str, _expected: str) -> None:
    out, _ = run(pl.DataFrame({"payload": [text]}), RedactionSpec(level="moderate"))
    assert out["payload"].to_list() == [text]


def test_a_request_mask_rule_does_not_tag_json_keys() -> None:
    # Only the level defaults: a request's own mask names a column, as before.
    spec = RedactionSpec(level="basic", rules=[rule("column=ref:mask:2")])
    frame = pl.DataFrame({"ref": ["abcd"], "payload": ['{"ref": "abcd"}']})
    out, _ = run(frame, spec)
    assert out.to_dicts() == [{"ref": "**cd", "payload": '{"ref": "abcd"}'}]
