"""The xml, yaml and markdown formats, each read back by an independent reader (lxml with
the export's XSD, yaml.safe_load, a GFM table parser) to the source's values, for the
awkward cases: unicode, control characters, characters XML 1.0 cannot hold, very long
strings, nulls, nested lists of structs, zoned and naive timestamps."""

from __future__ import annotations

import base64
import html
import json
import math
import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
import yaml
from lxml import etree

from sluice.format.temporal_text import temporal_as_text
from sluice.server.pipeline.encoders import ENCODERS, ChunkContext
from sluice.server.pipeline.xml_encoding import xml_name, xml_schema_document

_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
LONG = "long " * 20_000
NASTY = [
    "Zoë 日本語 🙂 ﬁ",
    "bell\x07 nul\x00 esc\x1b unit\x1f del\x7f",
    "crlf\r\nlf\ncr\r tab\t",
    "a|b\\c \\| <br> &amp; <tag a='1'> ]]> &",
    "",
    None,
    LONG,
    "nonchar \ufffe\uffff end",
    "  leading and trailing  ",
    "null",
    "123",
    "true",
    "- dash: colon # hash",
    "_x0041_ looks escaped",
    "2024-05-01T12:00:00Z",
    "\\u0001 literal backslash-u",
]
ROWS = len(NASTY)
PARIS = "Europe/Paris"


def awkward_frame() -> pl.DataFrame:
    instant = datetime(2024, 3, 31, 0, 59, 59, 123456, tzinfo=UTC)
    item = pl.Struct({"sku": pl.String, "qty": pl.Int32, "at": pl.Datetime("us", "UTC")})
    items: list[Any] = []
    for i in range(ROWS):
        if i % 5 == 1:
            items.append(None)
        elif i % 5 == 2:
            items.append([])
        else:
            items.append(
                [
                    {"sku": NASTY[(i + 1) % ROWS], "qty": i, "at": instant + timedelta(days=i)},
                    None,
                    {"sku": None, "qty": None, "at": None},
                ]
            )
    return pl.DataFrame(
        {
            "id": pl.Series(range(ROWS), dtype=pl.Int64),
            "first name": pl.Series(NASTY, dtype=pl.String),
            "amount": pl.Series(
                [float("nan"), float("inf"), float("-inf"), None, 1e-5, -0.0, 1.5e300, 0.1]
                + [i / 3 for i in range(ROWS - 8)],
                dtype=pl.Float64,
            ),
            "ok": pl.Series([None if i % 4 == 0 else i % 2 == 0 for i in range(ROWS)]),
            "paris": pl.Series(
                [None if i == 3 else instant + timedelta(hours=i * 7) for i in range(ROWS)],
                dtype=pl.Datetime("us", "UTC"),
            ).dt.convert_time_zone(PARIS),
            "naive": pl.Series(
                [datetime(2000, 1, 1, 0, 0, 0, 1) + timedelta(days=i * 40) for i in range(ROWS)],
                dtype=pl.Datetime("us"),
            ),
            "day": pl.Series([date(1999, 12, 31) + timedelta(days=i) for i in range(ROWS)]),
            "price": pl.Series(
                [Decimal("12.30"), None, *(Decimal(f"{i}.05") for i in range(ROWS - 2))],
                dtype=pl.Decimal(10, 2),
            ),
            "items": pl.Series(items, dtype=pl.List(item)),
            "tags": pl.Series(
                [["a|b", None, "c\nd"] if i % 2 else None for i in range(ROWS)],
                dtype=pl.List(pl.String),
            ),
        }
    )


def encode(fmt: str, frame: pl.DataFrame, batches: int = 3, index: int = 7) -> bytes:
    """One chunk of `frame` in `fmt`, fed in several batches as the pipeline does."""
    encoder = ENCODERS[fmt].make(ChunkContext("exp-1", "people", index))
    out = []
    step = max(1, math.ceil(frame.height / batches))
    for start in range(0, max(1, frame.height), step):
        out.append(encoder.encode(frame.slice(start, step)))
    out.append(encoder.finish())
    return b"".join(out)


def normalized(value: Any) -> Any:
    """Values compared: NaN equal to itself; instants compared as UTC."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, datetime) and value.tzinfo is not None:
        return ("instant", value.astimezone(UTC))
    if isinstance(value, list):
        return [normalized(v) for v in value]
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items()}
    return value


def source_records(frame: pl.DataFrame) -> list[Any]:
    return normalized(frame.to_dicts())  # type: ignore[no-any-return]


# --- XML -------------------------------------------------------------------------------


def _xml_text(element: Any) -> str:
    text: str = element.text or ""
    if element.get("escaped") == "true":
        return re.sub(
            r"\\u([0-9A-F]{4})|\\\\", lambda m: chr(int(m[1], 16)) if m[1] else "\\", text
        )
    return text


def _xml_value(element: Any, dtype: Any) -> Any:
    """A value read back from its element, by the column's type (the XSD's)."""
    if element.get(_XSI_NIL) == "true":
        return None
    if isinstance(dtype, pl.Struct):
        children = list(element)
        assert [c.tag for c in children] == [xml_name(f.name) for f in dtype.fields]
        return {f.name: _xml_value(c, f.dtype) for f, c in zip(dtype.fields, children, strict=True)}
    if isinstance(dtype, pl.List):
        assert all(c.tag == "item" for c in element)
        return [_xml_value(c, dtype.inner) for c in element]
    text = _xml_text(element)
    if isinstance(dtype, pl.String):
        return text
    if isinstance(dtype, pl.Int64 | pl.Int32):
        return int(text)
    if isinstance(dtype, pl.Float64):
        return {"NaN": math.nan, "INF": math.inf, "-INF": -math.inf}.get(text) or float(text)
    if isinstance(dtype, pl.Boolean):
        return {"true": True, "false": False}[text]
    if isinstance(dtype, pl.Datetime):
        return datetime.fromisoformat(text)
    if isinstance(dtype, pl.Date):
        return date.fromisoformat(text)
    if isinstance(dtype, pl.Decimal):
        return Decimal(text)
    raise AssertionError(dtype)


def test_xml_validates_against_its_xsd_and_reads_back_to_the_source() -> None:
    frame = awkward_frame()
    data = encode("xml", frame)
    schema = etree.XMLSchema(etree.fromstring(xml_schema_document(frame.schema)))
    document = etree.fromstring(data, etree.XMLParser(huge_tree=True))
    schema.assertValid(document)
    assert document.tag == "records"
    assert (document.get("export"), document.get("dataset"), document.get("chunk")) == (
        "exp-1",
        "people",
        "7",
    )
    records = []
    for record in document:
        fields = list(record)
        assert [f.tag for f in fields] == [xml_name(n) for n in frame.columns]
        records.append(
            {
                name: _xml_value(element, dtype)
                for (name, dtype), element in zip(frame.schema.items(), fields, strict=True)
            }
        )
    assert normalized(records) == source_records(frame)


def test_xml_writes_only_what_xml_1_0_allows_and_marks_escaped_strings() -> None:
    data = encode("xml", awkward_frame())
    text = data.decode()
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", text)
    # The carriage return survives parsing only as a character reference.
    assert "\r" not in text and "&#13;" in text
    # Only the strings holding a forbidden character are escaped; the rest are literal.
    assert text.count('escaped="true"') >= 3
    assert "<first_x0020_name>Zoë 日本語 🙂 ﬁ</first_x0020_name>" in text
    assert '<paris xsi:nil="true"/>' in text


def test_xml_names_are_encoded_reversibly() -> None:
    assert xml_name("first name") == "first_x0020_name"
    assert xml_name("1st") == "_x0031_st"
    assert xml_name("xmlns") == "_x0078_mlns"
    assert xml_name("ok_name-1.2") == "ok_name-1.2"
    assert xml_name("_x0041_") == "_x005F_x0041_"
    assert xml_name("") == "_x0000_"


def test_an_xml_chunk_without_records_is_a_valid_document() -> None:
    frame = awkward_frame().clear()
    empty = encode("xml", frame, batches=1)
    schema = etree.XMLSchema(etree.fromstring(xml_schema_document(frame.schema)))
    schema.assertValid(etree.fromstring(empty))
    encoder = ENCODERS["xml"].make(ChunkContext("e", "d", 0))
    schema.assertValid(etree.fromstring(encoder.finish()))


# --- YAML ------------------------------------------------------------------------------


def test_yaml_safe_load_reads_back_the_source_values() -> None:
    frame = awkward_frame()
    data = encode("yaml", frame)
    text = data.decode()
    assert text.startswith("# sluice export exp-1 dataset people chunk 7\n")
    assert "!!python" not in text
    records = yaml.safe_load(text)
    # Decimals are written as their exact digits, in strings (YAML has no decimal type).
    expected = frame.with_columns(pl.col("price").cast(pl.String))
    assert normalized(records) == source_records(expected)
    # Timestamps are YAML timestamps, not strings; zoned ones keep their offset.
    # The first row is just before Paris moves to summer time, the second after.
    paris = [r["paris"] for r in records[:2]]
    assert all(isinstance(p, datetime) for p in paris)
    assert [p.utcoffset() for p in paris] == [timedelta(hours=1), timedelta(hours=2)]
    assert records[0]["naive"].tzinfo is None
    assert isinstance(records[0]["day"], date)


def test_yaml_keeps_nanosecond_text_and_an_empty_chunk_is_an_empty_sequence() -> None:
    frame = pl.DataFrame(
        {"t": pl.Series([datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=-5)))])}
    )
    frame = frame.with_columns(pl.col("t").cast(pl.Datetime("ns", "America/New_York")))
    text = encode("yaml", frame, batches=1).decode()
    assert "t: 2024-01-01T12:00:00.000000000-05:00\n" in text
    assert yaml.safe_load(text)[0]["t"] == datetime(2024, 1, 1, 17, tzinfo=UTC)
    empty = ENCODERS["yaml"].make(ChunkContext("e", "d", 0)).finish()
    assert yaml.safe_load(empty) == []


def test_yaml_dates_python_cannot_hold_stay_text() -> None:
    days = pl.DataFrame({"d": pl.Series([date(1, 1, 1), date(9999, 12, 31)])})
    days = days.vstack(pl.DataFrame({"d": pl.Series([0, 3_000_000]).cast(pl.Date)}))
    text = encode("yaml", pl.DataFrame({"d": days["d"].dt.offset_by("-366d")}), 1).decode()
    read = [r["d"] for r in yaml.safe_load(text)]
    assert read[1] == date(9998, 12, 30)
    # Year 0 and years before it or past 9999 are written as text, and read as text.
    assert all(isinstance(v, str) for v in (read[0], read[3]))


# --- Markdown --------------------------------------------------------------------------


def parse_markdown_table(text: str) -> tuple[str, list[str], list[list[str]]]:
    """A GFM table read back: the heading, the column names and the cells' text, with
    the encoder's escapes undone (backslash escapes, <br>, HTML entities)."""
    lines = text.split("\n")
    assert lines[1] == "" and lines[-1] == ""
    rows = []
    for line in [lines[2], *lines[4:-1]]:
        assert line.startswith("| ") and line.endswith(" |"), line[:80]
        cells, cell, chars = [], [], iter(line[1:-1])
        for char in chars:
            if char == "\\":
                cell.append(next(chars))
            elif char == "|":
                cells.append("".join(cell))
                cell = []
            else:
                cell.append(char)
        cells.append("".join(cell))
        rows.append(
            [
                html.unescape(c.removeprefix(" ").removesuffix(" ").replace("<br>", "\n"))
                for c in cells
            ]
        )
    assert re.fullmatch(r"\|( --- \|)+", lines[3])
    return lines[0], rows[0], rows[1:]


def test_markdown_is_one_table_whose_cells_read_back_to_the_source() -> None:
    frame = awkward_frame()
    heading, names, rows = parse_markdown_table(encode("markdown", frame).decode())
    assert heading == "# people: export exp-1, chunk 7"
    assert names == frame.columns
    assert len(rows) == frame.height
    texts = temporal_as_text(frame)
    for row, expected in zip(rows, texts.iter_rows(named=True), strict=True):
        got = dict(zip(names, row, strict=True))
        assert got["first name"] == (expected["first name"] or "")
        assert int(got["id"]) == expected["id"]
        assert normalized(float(got["amount"] or "nan")) == normalized(
            math.nan if expected["amount"] is None else expected["amount"]
        )
        assert got["paris"] == (expected["paris"] or "")
        assert got["day"] == expected["day"]
        assert got["ok"] == ("" if expected["ok"] is None else str(expected["ok"]).lower())
        assert (json.loads(got["items"]) if got["items"] else None) == expected["items"]
        assert (json.loads(got["tags"]) if got["tags"] else None) == expected["tags"]
    # One record, one line, whatever the text holds.
    assert all(len(r) == len(names) for r in rows)


@pytest.mark.parametrize("fmt", ["xml", "yaml", "markdown"])
def test_the_bytes_do_not_depend_on_how_the_rows_were_batched(fmt: str) -> None:
    frame = awkward_frame()
    assert encode(fmt, frame, batches=1) == encode(fmt, frame, batches=5)


def test_xml_binary_is_base64_and_validates_as_base64_binary() -> None:
    # PostgreSQL bytea and SQLite BLOB reach the encoder as pl.Binary; b"\xff" is no UTF-8
    # (a strict cast to text failed the export) and b"\x00" no XML character.
    values = [b"\xff\x00", b"abc", b"", None]
    frame = pl.DataFrame(
        {
            "b": pl.Series(values, dtype=pl.Binary),
            "listed": pl.Series([values] * len(values), dtype=pl.List(pl.Binary)),
            "nested": pl.Series([{"x": v} for v in values], dtype=pl.Struct({"x": pl.Binary})),
        }
    )
    data = encode("xml", frame)
    schema = etree.XMLSchema(etree.fromstring(xml_schema_document(frame.schema)))
    document = etree.fromstring(data)
    schema.assertValid(document)

    def read(element: Any) -> bytes | None:
        return None if element.get(_XSI_NIL) == "true" else base64.b64decode(element.text or "")

    assert [read(r.find("b")) for r in document] == values
    assert [[read(i) for i in r.find("listed")] for r in document] == [values] * len(values)
    assert [read(r.find("nested").find("x")) for r in document] == values
    assert "<b>YWJj</b>" in data.decode()
