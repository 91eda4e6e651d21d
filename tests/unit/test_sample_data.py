from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from sluice.client import demo_data as sample_data
from sluice.client.demo_data import generate, main

ROWS = 20_000

SCHEMA = pl.Schema(
    {
        "id": pl.Int64(),
        "user_id": pl.Int64(),
        "first_name": pl.String(),
        "last_name": pl.String(),
        "email": pl.String(),
        "phone": pl.String(),
        "country": pl.String(),
        "city": pl.String(),
        "created_at": pl.Datetime("us", "UTC"),
        "updated_at": pl.Datetime("us", "UTC"),
        "amount": pl.Float64(),
        "currency": pl.String(),
        "status": pl.String(),
        "message": pl.String(),
        "ip": pl.String(),
        "device": pl.Struct(
            {"os": pl.String(), "version": pl.String(), "tags": pl.List(pl.String())}
        ),
    }
)


def share(mask: pl.Series) -> float:
    return int(mask.sum()) / len(mask)


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    path = generate(tmp_path_factory.mktemp("sample") / "events.parquet", ROWS)
    return pl.read_parquet(path)


def test_row_count_schema_and_ids(events: pl.DataFrame) -> None:
    assert events.height == ROWS
    assert events.schema == SCHEMA
    assert events["id"].to_list() == list(range(ROWS))
    assert events.null_count().sum_horizontal().item() == 0


def test_values_look_like_the_real_thing(events: pl.DataFrame) -> None:
    assert share(events["email"].str.contains(r"^[A-Za-z0-9._-]+@[a-z0-9.-]+\.[a-z]+$")) > 0.98
    assert events["email"].str.contains("[A-Z]").any()
    assert events["email"].str.extract("@(.*)$").n_unique() > 10
    phones = events["phone"]
    assert share(phones.str.starts_with("+")) > 0.2  # international
    assert share(~phones.str.starts_with("+")) > 0.2  # national
    assert phones.str.contains(r"^\(\d{3}\) 555-01\d\d$").any()
    assert phones.str.contains(r" ext\. \d+$").any()
    assert events["country"].str.contains("^[A-Z]{2}$").all()
    assert events["country"].n_unique() > 5
    assert set(events["status"].unique()) == {"ok", "pending", "refunded", "failed"}
    assert (events["amount"] > 0).all()
    assert ((events["amount"] * 100).round(6) % 1 == 0).all()
    assert events["currency"].str.contains("^[A-Z]{3}$").all()


def test_times_spread_over_three_years_ascending_ish(events: pl.DataFrame) -> None:
    created = events["created_at"]
    assert (created >= datetime(2023, 12, 31, tzinfo=UTC)).all()
    assert (created < datetime(2027, 1, 1, tzinfo=UTC)).all()
    assert (events["updated_at"] >= created).all()
    assert share(events["updated_at"] > created) > 0.3
    assert set(created.dt.year().unique()) == {2024, 2025, 2026}
    # Jitter lets neighbours swap, but the trend is forward.
    assert (created.head(ROWS // 3) < created.tail(ROWS // 3).min()).all()
    assert not created.is_sorted()


def test_messages_give_redaction_work(events: pl.DataFrame) -> None:
    message = events["message"]
    lengths = message.str.len_chars()
    assert lengths.is_between(40, 400).all()
    contact = message.str.contains(r"@|\+?\(?\d[\d ()-]{7,}\d")
    secret = message.str.contains(r"api_key=|password=|Bearer |aws_secret_access_key=|token=")
    assert 0.07 < share(contact) < 0.13
    assert 0.01 < share(secret) < 0.03


def test_ips_and_devices(events: pl.DataFrame) -> None:
    ip = events["ip"]
    v4 = ip.str.contains(r"^\d{1,3}(\.\d{1,3}){3}$")
    v6 = ip.str.contains(":")
    assert (v4 | v6).all()
    assert 0.03 < share(v6) < 0.2
    device = events["device"].struct.unnest()
    assert device["os"].n_unique() > 3
    tag_counts = device["tags"].list.len()
    assert tag_counts.min() == 0
    assert tag_counts.max() == 3
    assert (device["tags"].list.n_unique() == tag_counts).all()


def test_same_seed_same_data_other_seed_other_data(tmp_path: Path) -> None:
    first = pl.read_parquet(generate(tmp_path / "a.parquet", 3000, seed=11))
    again = pl.read_parquet(generate(tmp_path / "b.parquet", 3000, seed=11))
    other = pl.read_parquet(generate(tmp_path / "c.parquet", 3000, seed=12))
    assert first.equals(again)
    assert not first.drop("id").equals(other.drop("id"))


def test_batch_size_does_not_change_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = pl.read_parquet(generate(tmp_path / "whole.parquet", 2500))
    monkeypatch.setattr(sample_data, "BATCH_ROWS", 999)
    batched = pl.read_parquet(generate(tmp_path / "batched.parquet", 2500))
    assert batched.equals(whole)


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_text_formats_read_back(tmp_path: Path, fmt: str) -> None:
    reference = pl.read_parquet(generate(tmp_path / "ref.parquet", 1200))
    path = generate(tmp_path / "nested" / f"events.{fmt}", 1200, format=fmt)
    if fmt == "csv":
        back = pl.read_csv(path, try_parse_dates=True)
        # CSV keeps the struct as JSON text.
        back = back.with_columns(pl.col("device").str.json_decode(SCHEMA["device"]))
    else:
        back = pl.read_ndjson(path, schema=SCHEMA)
    assert back.height == 1200
    assert back.columns == reference.columns
    assert back["id"].to_list() == list(range(1200))
    for column in ("email", "phone", "message", "ip", "amount", "device"):
        assert back[column].equals(reference[column]), column
    assert back["created_at"].dt.epoch("us").equals(reference["created_at"].dt.epoch("us"))


def test_zero_rows_still_has_the_schema(tmp_path: Path) -> None:
    empty = pl.read_parquet(generate(tmp_path / "empty.parquet", 0))
    assert empty.height == 0
    assert empty.schema == SCHEMA


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format"):
        generate(tmp_path / "x.xml", 10, format="xml")


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.ndjson"
    main(["--rows", "50", "--out", str(out), "--format", "ndjson", "--seed", "3"])
    printed = capsys.readouterr().out
    assert str(out) in printed and "bytes" in printed
    assert pl.read_ndjson(out).height == 50
