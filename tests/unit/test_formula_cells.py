"""CSV cells a spreadsheet would run as formulas, written as text when the encoder is told
to (ChunkContext.neutralise_formulas: a GDPR package's CSV files), read back with the csv
module: every text cell starting with = + - @ tab or carriage return starts with `'`;
numbers, other text and nested values (JSON) are as they were; without the option the
bytes are the plain CSV encoder's."""

from __future__ import annotations

import csv
import io

import polars as pl

from sluice.server.pipeline.encoders import ENCODERS, ChunkContext

BATCH = pl.DataFrame(
    {
        "n": [-5, 3, 7, 8, 9, 10, 11, 12],
        "text": [
            '=HYPERLINK("http://evil.example","x")',
            "+1 555 0100",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
            "plain = text",
            None,
        ],
        "kind": pl.Series(["=a", "b", "c", "d", "e", "f", "g", "h"], dtype=pl.Categorical),
        "nested": [{"v": "=x"}] * 8,
    }
)


def _rows(neutralise: bool) -> list[dict[str, str]]:
    context = ChunkContext("e", "d", 0, neutralise_formulas=neutralise)
    encoder = ENCODERS["csv"].make(context)
    data = encoder.encode(BATCH) + encoder.finish()
    return list(csv.DictReader(io.StringIO(data.decode(), newline="")))


def test_package_csv_cells_that_start_like_formulas_start_with_an_apostrophe() -> None:
    rows = _rows(neutralise=True)
    assert [r["text"] for r in rows] == [
        '\'=HYPERLINK("http://evil.example","x")',
        "'+1 555 0100",
        "'-2+3",
        "'@SUM(A1)",
        "'\t=1",
        "'\r=1",
        "plain = text",
        "",
    ]
    assert [r["n"] for r in rows] == ["-5", "3", "7", "8", "9", "10", "11", "12"]
    assert rows[0]["kind"] == "'=a"
    assert rows[0]["nested"] == '{"v":"=x"}'


def test_a_plain_csv_export_writes_its_text_as_it_is() -> None:
    rows = _rows(neutralise=False)
    assert rows[0]["text"] == '=HYPERLINK("http://evil.example","x")'
    assert rows[1]["text"] == "+1 555 0100"
    assert rows[0]["kind"] == "=a"


def test_package_csv_header_cells_that_start_like_formulas_start_with_an_apostrophe() -> None:
    """A column named like a formula is a cell of the header row a spreadsheet runs too;
    the header is written once, whatever the number of batches."""
    batch = pl.DataFrame({"=cmd()": ["x"], "@x": ["y"], "plain": ["=1"], "a,b": ["z"]})
    encoder = ENCODERS["csv"].make(ChunkContext("e", "d", 0, neutralise_formulas=True))
    data = encoder.encode(batch) + encoder.encode(batch) + encoder.finish()
    rows = list(csv.reader(io.StringIO(data.decode(), newline="")))
    assert rows == [
        ["'=cmd()", "'@x", "plain", "a,b"],
        ["x", "y", "'=1", "z"],
        ["x", "y", "'=1", "z"],
    ]
    plain = ENCODERS["csv"].make(ChunkContext("e", "d", 0)).encode(batch)
    assert next(csv.reader(io.StringIO(plain.decode()))) == ["=cmd()", "@x", "plain", "a,b"]
