"""Text stored as a dictionary (Polars Categorical or Enum: what a Parquet column written
from pandas' category dtype or an Arrow dictionary array reads as) is redacted like any
other text, at the top level and inside lists and structs."""

from __future__ import annotations

import polars as pl
import pytest

from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import run

MESSAGES = ["call 555-123-4567 now", "write to ann@example.com", "nothing here"]
REDACTED = ["call [PHONE] now", "write to [EMAIL]", "nothing here"]


@pytest.mark.parametrize("dtype", [pl.Categorical(), pl.Enum(MESSAGES)])
def test_a_dictionary_encoded_text_column_is_redacted(dtype: pl.DataType) -> None:
    frame = pl.DataFrame({"message": pl.Series(MESSAGES, dtype=dtype), "n": [1, 2, 3]})
    out, counts = run(frame, RedactionSpec(level="moderate"))
    assert out["message"].to_list() == REDACTED
    assert out.schema["message"] == pl.String
    assert out["n"].to_list() == [1, 2, 3]
    assert counts == {"PHONE/message": 1, "EMAIL/message": 1}


def test_dictionary_encoded_text_in_lists_and_structs_is_redacted() -> None:
    frame = pl.DataFrame(
        {
            "notes": pl.Series([MESSAGES, [], None], dtype=pl.List(pl.Categorical())),
            "contact": pl.Series(
                [{"note": m} for m in MESSAGES], dtype=pl.Struct({"note": pl.Categorical()})
            ),
        }
    )
    out, _ = run(frame, RedactionSpec(level="moderate"))
    assert out["notes"].to_list() == [REDACTED, [], None]
    assert out["contact"].struct.field("note").to_list() == REDACTED


def test_a_policy_that_keeps_the_column_keeps_its_values() -> None:
    frame = pl.DataFrame({"device": pl.Series(["ios", "android"], dtype=pl.Categorical())})
    out, counts = run(frame, RedactionSpec(level="moderate"))
    assert out["device"].to_list() == ["ios", "android"]
    assert counts == {}
