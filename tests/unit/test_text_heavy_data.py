"""The text-heavy benchmark dataset: deterministic by seed whatever the batch size, with
the shape the benchmark promises (free text with personal data in the asked share of
rows, categorical text, lists, a struct, nulls)."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from benchmarks import text_heavy_data
from benchmarks.text_heavy_data import generate


def test_same_seed_same_rows_whatever_the_batch_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = pl.read_parquet(generate(tmp_path / "a.parquet", 3_000, seed=4))
    monkeypatch.setattr(text_heavy_data, "BATCH_ROWS", 1_000)
    batched = pl.read_parquet(generate(tmp_path / "b.parquet", 3_000, seed=4))
    other = pl.read_parquet(generate(tmp_path / "c.parquet", 3_000, seed=5))
    assert whole.equals(batched)
    assert not whole["message"].equals(other["message"])
    ndjson = pl.read_ndjson(generate(tmp_path / "a.ndjson", 3_000, seed=4, format="ndjson"))
    assert ndjson["message"].to_list() == whole["message"].to_list()


@pytest.mark.parametrize("share", [0.1, 0.8])
def test_shape_and_share_of_messages_with_personal_data(tmp_path: Path, share: float) -> None:
    frame = pl.read_parquet(generate(tmp_path / "t.parquet", 4_000, pii_share=share))
    schema = frame.schema
    assert isinstance(schema["tags"], pl.List) and isinstance(schema["cc"], pl.List)
    assert isinstance(schema["request"], pl.Struct)
    for column in ("level", "service", "region", "locale", "status", "client"):
        assert schema[column] == pl.String and frame[column].n_unique() <= 12
    for column in ("locale", "email", "message", "cc", "request", "amount"):
        assert 0 < frame[column].null_count() < frame.height, column
    messages = frame["message"].drop_nulls()
    mentions = "|".join(re.escape(form.split("{}")[0]) for _, form in text_heavy_data.PII_FORMS)
    contact = messages.str.contains(mentions)
    assert abs(contact.mean() - share) < 0.08  # type: ignore[operator]
    cc = frame["cc"].drop_nulls().explode().drop_nulls()
    assert cc.len() > 0 and cc.str.contains("@").all()
