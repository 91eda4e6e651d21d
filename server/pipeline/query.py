"""The query stage: a projection and one predicate (the `where`, time range, ids and
incremental bound, compiled and checked by planning.query_plan), applied as Polars
expressions to each batch's lazy frame, carrying hidden copies of the columns the
pipeline needs after redaction (the incremental cursor, the key)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from sluice.server.pipeline.source import ROW_INDEX

#: Hidden copy of the incremental cursor, taken before redaction can change the column;
#: the pipeline reads each chunk's maximum from it and drops it before encoding.
CURSOR_COLUMN = "__sluice_cursor"
#: Hidden copies of the key columns (keyed exports digest the source key, not a
#: redacted one): "__sluice_key_0", "__sluice_key_1", ...
KEY_COLUMN_PREFIX = "__sluice_key_"


#: Hidden copies of a database source's order columns: each chunk's last row's values are
#: journalled, and a resumed read continues after them (WHERE key > last key).
RESUME_COLUMN_PREFIX = "__sluice_resume_"


def hidden_key_column(position: int) -> str:
    return f"{KEY_COLUMN_PREFIX}{position}"


def hidden_resume_column(position: int) -> str:
    return f"{RESUME_COLUMN_PREFIX}{position}"


@dataclass(frozen=True)
class CompiledQuery:
    columns: tuple[str, ...]
    predicate: pl.Expr | None
    #: Incremental cursor column carried along as CURSOR_COLUMN ("" for none).
    cursor: str = ""
    #: Key columns carried along as hidden_key_column(i) (only while indexing).
    key: tuple[str, ...] = ()
    #: Order columns of a database source, carried along as hidden_resume_column(i).
    resume_key: tuple[str, ...] = ()
    #: Rows the rest of the query selects that an increment can never send (a null,
    #: NaN or infinite cursor): counted, see rows_without_cursor. None: nothing counted.
    without_cursor: pl.Expr | None = None
    #: No columns chosen: the export takes every column the source has, so a field the
    #: source schema lacks (a late NDJSON field) fails rather than being left out.
    every_column: bool = False

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Source columns the query reads: the projection plus what predicates use."""
        used = set(self.predicate.meta.root_names()) if self.predicate is not None else set()
        if self.without_cursor is not None:
            used |= set(self.without_cursor.meta.root_names())
        used |= {self.cursor} if self.cursor else set()
        used |= set(self.key) | set(self.resume_key)
        used.discard(ROW_INDEX)
        return self.columns + tuple(sorted(used - set(self.columns)))

    def apply(self, frame: pl.LazyFrame, *, from_row: int = 0) -> pl.LazyFrame:
        """Filter and project; rows before `from_row` (already exported) are skipped."""
        if from_row:
            frame = frame.filter(pl.col(ROW_INDEX) >= from_row)
        if self.predicate is not None:
            frame = frame.filter(self.predicate)
        hidden = [pl.col(self.cursor).alias(CURSOR_COLUMN)] if self.cursor else []
        hidden += [pl.col(name).alias(hidden_key_column(i)) for i, name in enumerate(self.key)]
        hidden += [
            pl.col(name).alias(hidden_resume_column(i)) for i, name in enumerate(self.resume_key)
        ]
        return frame.select(ROW_INDEX, *self.columns, *hidden)
