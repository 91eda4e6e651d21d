"""Markdown chunks, for people: a heading naming the export and chunk, then one GitHub
(GFM) table of the chunk's records.

    # orders: export 0193..., chunk 0

    | id | name | tags |
    | --- | --- | --- |
    | 1 | Ada \\| Lovelace | ["a","b"] |

- Cells: `\\` is written `\\\\` and `|` is written `\\|` (so a cell never ends early);
  `&` and `<` as the entities `&amp;` and `&lt;` (so text never turns into markup);
  a newline as `<br>` and a carriage return as `&#13;` (a row is one line). Reading a
  cell back is undoing those in reverse: `<br>`, the backslash escapes, HTML entities.
- Nested values (structs, lists) as inline JSON; dates and times in the same RFC 3339
  text as every text format.
- A null is an empty cell, like an empty string: a table for people does not tell them
  apart (JSON, YAML, XML and Parquet do).

Every cell is made by column-wise Polars expressions, so the bytes depend only on the
values: a resumed export writes byte-identical chunks.
"""

from __future__ import annotations

import polars as pl

from sluice.format.temporal_text import temporal_as_text
from sluice.server.pipeline.encoder_contract import ChunkContext, Encoder

_SPECIAL = ["\\", "|", "&", "<", "\n", "\r"]
_SPELLED = ["\\\\", "\\|", "&amp;", "&lt;", "<br>", "&#13;"]


def markdown_cell_text(text: str) -> str:
    """One value's text as the cell holds it (the same escaping as the encoder)."""
    return pl.Series([text]).str.replace_many(_SPECIAL, _SPELLED).item()  # type: ignore[no-any-return]


def _cell(expression: pl.Expr) -> pl.Expr:
    return expression.str.replace_many(_SPECIAL, _SPELLED).fill_null("")


def _as_strings(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as text: nested values as JSON, scalars by Polars' own cast."""
    columns: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        if dtype.is_nested():
            # A one-field struct lets Polars' JSON writer handle lists too.
            columns.append(
                pl.struct(pl.col(name).alias("v"))
                .struct.json_encode()
                .str.slice(5)
                .str.head(-1)
                .alias(name)
            )
        elif dtype == pl.Boolean:
            columns.append(
                pl.when(pl.col(name))
                .then(pl.lit("true"))
                .when(pl.col(name).not_())
                .then(pl.lit("false"))
                .alias(name)
            )
        else:
            columns.append(pl.col(name).cast(pl.String))
    return frame.select(columns)


class MarkdownEncoder(Encoder):
    def __init__(self, context: ChunkContext) -> None:
        self._title = (
            f"# {markdown_cell_text(context.dataset)}: export {context.export_id}, "
            f"chunk {context.index}\n\n"
        ).encode()
        self._started = False

    def encode(self, batch: pl.DataFrame) -> bytes:
        header = b""
        if not self._started:
            self._started = True
            names = [markdown_cell_text(n) for n in batch.columns]
            header = (
                self._title
                + ("| " + " | ".join(names) + " |\n").encode()
                + ("|" + " --- |" * len(names) + "\n").encode()
            )
        if batch.height == 0:
            return header
        text = _as_strings(temporal_as_text(batch))
        row = pl.concat_str(
            pl.lit("| "),
            pl.concat_str([_cell(pl.col(n)) for n in text.columns], separator=" | "),
            pl.lit(" |\n"),
        )
        return header + "".join(text.select(row.alias("r")).to_series().to_list()).encode()

    def finish(self) -> bytes:
        # A chunk without records keeps its heading (a table needs at least one column
        # name, which only the first batch gives).
        return b"" if self._started else self._title

    def close(self) -> None:
        pass
