"""YAML chunks: each chunk one YAML document, a block sequence of mappings (one per record),
that `yaml.safe_load` reads back to the records' values:

    # sluice export 0193... dataset orders chunk 0
    - id: 1
      name: Ada
      created_at: 2024-05-01T12:00:00.000000Z
      tags:
        - a
      phone: "+44 20 7946 0000"
      note: null

- Only standard YAML 1.1 tags, never Python ones: nulls are `null`, dates and datetimes
  are plain YAML timestamps (safe_load gives `date` / `datetime`, zoned ones with their
  offset, naive ones naive; Python keeps microseconds, so nanosecond digits are dropped
  on reading). Times of day and durations are strings (YAML has no type for them), in the
  same RFC 3339 / ISO 8601 text as every text format; decimals are strings holding their
  exact digits; floats are written so they read back as the same float (`.nan`, `.inf`).
- A string is written plain only when no YAML 1.1 or 1.2 reader can take it for anything
  else: it starts with a letter or `_`, holds only letters, marks, digits, spaces and
  `_.,'@/()+-`, does not end in a space and is no boolean or null word (`yes`, `No`,
  `on`, `null`...). Every other string is double-quoted, with `\\`, `"`, tabs, line
  breaks (also U+0085, U+2028, U+2029), control characters, U+FEFF, U+FFFE and U+FFFF as
  escapes: one value, one line. Mapping keys (column and field names) follow the same
  rule.
- Structs are nested mappings, lists and arrays nested block sequences (`[]` when empty).

Every value is turned into text by column-wise Polars expressions (as the XML encoder
does): PyYAML's representer built a Python node per value and cost ~35x the XML encoder.
The text of a record depends only on its values and the schema, so batches concatenate
into one sequence, the chunk is streamed, and a resumed export writes byte-identical
chunks.
"""

from __future__ import annotations

import polars as pl

from sluice.format.temporal_text import temporal_as_text
from sluice.server.pipeline.data_types import AnyType, instance
from sluice.server.pipeline.encoder_contract import ChunkContext, Encoder

#: Timestamps safe_load reads back: years 1..9999, as Python's datetime. chrono writes
#: years past 9999 or before 0 with a sign, and year 0 Python cannot hold: those stay
#: strings (quoted), which safe_load also reads.
_TIMESTAMP = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ].*)?$"
_YEAR_ZERO = r"^0000"
#: Strings no YAML reader takes for a number, date, boolean, null, indicator or comment.
_PLAIN = r"^[\p{L}_][\p{L}\p{M}\p{N}_ .,'@/()+\-]*$"
#: Words YAML 1.1 reads as booleans or null (1.2's are among them).
_WORDS = (
    r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE"
    r"|on|On|ON|off|Off|OFF|null|Null|NULL)$"
)
#: What a double-quoted scalar escapes: characters a YAML reader refuses or folds.
_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\t": "\\t",
    "\n": "\\n",
    "\r": "\\r",
    **{chr(c): f"\\x{c:02X}" for c in (*range(0x20), *range(0x7F, 0xA0)) if chr(c) not in "\t\n\r"},
    "\u2028": "\\L",
    "\u2029": "\\P",
    "\ufeff": "\\uFEFF",
    "\ufffe": "\\uFFFE",
    "\uffff": "\\uFFFF",
}
#: Longest key a YAML reader accepts as a simple key (`key: value`); longer ones are
#: written as explicit keys (`? key` then `: value`).
_SIMPLE_KEY_CHARS = 1024


def _string(text: pl.Expr) -> pl.Expr:
    """A non-null string as a plain or double-quoted YAML scalar."""
    plain = text.str.contains(_PLAIN) & ~text.str.ends_with(" ") & ~text.str.contains(_WORDS)
    quoted = pl.concat_str(
        pl.lit('"'), text.str.replace_many(list(_ESCAPES), list(_ESCAPES.values())), pl.lit('"')
    )
    return pl.when(plain).then(text).otherwise(quoted)


def _float(value: pl.Expr) -> pl.Expr:
    # YAML 1.1 floats need a dot and a signed exponent: "1e+16" would read as a string.
    digits = value.cast(pl.Float64).cast(pl.String).str.replace(r"^(-?[0-9]+)e", "${1}.0e")
    return (
        pl.when(value.is_nan())
        .then(pl.lit(".nan"))
        .when(value == float("inf"))
        .then(pl.lit(".inf"))
        .when(value == float("-inf"))
        .then(pl.lit("-.inf"))
        .otherwise(digits)
    )


def _scalar(value: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A non-null scalar's YAML text; `value` holds dates and times as text already."""
    if isinstance(dtype, (pl.Date, pl.Datetime)):
        timestamp = value.str.contains(_TIMESTAMP) & ~value.str.contains(_YEAR_ZERO)
        return pl.when(timestamp).then(value).otherwise(_string(value))
    if isinstance(dtype, pl.Boolean):
        return pl.when(value).then(pl.lit("true")).otherwise(pl.lit("false"))
    if dtype.is_float():
        return _float(value)
    if dtype.is_integer():
        return value.cast(pl.String)
    if isinstance(dtype, pl.Binary):
        # Bytes are no text (a strict UTF-8 cast fails on b"\xff", or reads b"abc" back
        # as a string): YAML's binary tag with base64, which safe loaders read as bytes.
        return pl.concat_str(pl.lit('!!binary "'), value.bin.encode("base64"), pl.lit('"'))
    return _string(value.cast(pl.String))


def key_text(name: str) -> str:
    """`name` as a YAML mapping key (the same rule as string values)."""
    text: str = pl.select(_string(pl.lit(name, pl.String))).item()
    return text


def _mapping(
    fields: list[tuple[str, pl.Expr, pl.DataType]], column: int, after_dash: bool
) -> pl.Expr:
    """A non-null struct's text after `key:` (on the next lines) or `-` (from this line),
    its keys at `column`."""
    if not fields:
        return pl.lit(" {}")
    pad = "\n" + " " * column
    lines: list[pl.Expr | str] = []
    for position, (name, value, dtype) in enumerate(fields):
        key = key_text(name)
        if position or not after_dash:
            lines.append(pad)
        else:
            lines.append(" ")
        if len(key) > _SIMPLE_KEY_CHARS:
            lines.append(f"? {key}{pad}:")
        else:
            lines.append(f"{key}:")
        lines.append(_node(value, dtype, column + 2, after_dash=False))
    return pl.concat_str([pl.lit(p) if isinstance(p, str) else p for p in lines])


def _node(value: pl.Expr, dtype: AnyType, column: int, *, after_dash: bool) -> pl.Expr:
    """A value's text after `key:` or `-`: ` scalar`, ` null`, ` []`, or a nested block
    whose entries start at `column`."""
    dtype = instance(dtype)
    if isinstance(dtype, pl.Struct):
        fields = [(f.name, value.struct.field(f.name), instance(f.dtype)) for f in dtype.fields]
        body = _mapping(fields, column, after_dash)
    elif isinstance(dtype, (pl.List, pl.Array)):
        listed = value.arr.to_list() if isinstance(dtype, pl.Array) else value
        entry = pl.concat_str(
            pl.lit("-"), _node(pl.element(), dtype.inner, column + 2, after_dash=True)
        )
        pad = "\n" + " " * column
        entries = listed.list.eval(entry).list.join(pad)
        first = pl.lit(" ") if after_dash else pl.lit(pad)
        body = (
            pl.when(listed.list.len() == 0)
            .then(pl.lit(" []"))
            .otherwise(pl.concat_str(first, entries))
        )
    elif isinstance(dtype, pl.Null):
        return pl.lit(" null")
    else:
        body = pl.concat_str(pl.lit(" "), _scalar(value, dtype))
    return pl.when(value.is_null()).then(pl.lit(" null")).otherwise(body)


class YamlEncoder(Encoder):
    def __init__(self, context: ChunkContext) -> None:
        self._header = (
            f"# sluice export {context.export_id} dataset {context.dataset} chunk {context.index}\n"
        ).encode()
        self._started = False
        self._records = 0

    def encode(self, batch: pl.DataFrame) -> bytes:
        header = b"" if self._started else self._header
        self._started = True
        if batch.height == 0:
            return header
        # The original types decide how a value is written (a date's text is a
        # timestamp, a time's a string); the text comes from the frame with its dates and
        # times already written as RFC 3339.
        as_text = temporal_as_text(batch)
        fields = [(name, pl.col(name), dtype) for name, dtype in batch.schema.items()]
        record = pl.concat_str(pl.lit("-"), _mapping(fields, 2, after_dash=True), pl.lit("\n"))
        lines = as_text.select(record.alias("r")).to_series()
        self._records += batch.height
        return header + "".join(lines.to_list()).encode()

    def finish(self) -> bytes:
        header = b"" if self._started else self._header
        # A chunk without records is still a sequence, an empty one.
        return header + (b"[]\n" if self._records == 0 else b"")

    def close(self) -> None:
        pass
