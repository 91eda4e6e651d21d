"""YAML chunks: each chunk one YAML document, a block sequence of mappings (one per record),
that `yaml.safe_load` reads back to the records' values:

    # sluice export 0193... dataset orders chunk 0
    - id: 1
      name: Ada
      created_at: 2024-05-01T12:00:00.000000Z
      tags:
      - a
      note: null

- Only standard YAML 1.1 tags, never Python ones: nulls are `null`, dates and datetimes
  are plain YAML timestamps (safe_load gives `date` / `datetime`, zoned ones with their
  offset, naive ones naive; Python keeps microseconds, so nanosecond digits are dropped
  on reading). Times of day and durations are strings (YAML has no type for them), in the
  same RFC 3339 / ISO 8601 text as every text format; decimals are strings holding their
  exact digits.
- Strings PyYAML cannot write plainly (control characters, a leading space, text that
  would read as a number) are quoted and escaped by PyYAML itself.

Batches are dumped one after another: block sequences concatenate into one sequence, so
the chunk is streamed. The text depends only on the values and the schema, so a resumed
export writes byte-identical chunks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import polars as pl
import yaml

from sluice.format.temporal_text import temporal_as_text
from sluice.server.pipeline.encoder_contract import ChunkContext, Encoder

#: Timestamps safe_load reads back: years 1..9999, as Python's datetime. chrono writes
#: years past 9999 or before 0 with a sign, and year 0 Python cannot hold: those stay
#: strings (quoted), which safe_load also reads.
_TIMESTAMP = re.compile(r"^(?!0000)[0-9]{4}-[0-9]{2}-[0-9]{2}([T ].*)?$")
_Walk = Callable[[Any], Any]


class _Timestamp(str):
    """Text of a date or datetime, written as a plain (untagged) YAML timestamp."""

    __slots__ = ()


if TYPE_CHECKING:
    _BaseDumper = yaml.SafeDumper
else:  # libyaml's emitter when PyYAML was built with it (same output, much faster)
    _BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_BaseDumper):
    """SafeDumper (libyaml's when present) that also writes timestamps and decimals."""


def _timestamp(dumper: yaml.SafeDumper, value: _Timestamp) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:timestamp", str(value))


def _decimal(dumper: yaml.SafeDumper, value: Decimal) -> yaml.ScalarNode:
    return dumper.represent_str(format(value, "f"))


_Dumper.add_representer(_Timestamp, _timestamp)
_Dumper.add_representer(Decimal, _decimal)


def _walker(dtype: pl.DataType | pl.datatypes.DataTypeClass) -> _Walk | None:
    """What marks the dates and datetimes inside a value of this type (already text);
    None when it holds none."""
    if isinstance(dtype, pl.datatypes.DataTypeClass):
        dtype = dtype()
    if isinstance(dtype, (pl.Date, pl.Datetime)):
        return lambda v: _Timestamp(v) if v is not None and _TIMESTAMP.match(v) else v
    if isinstance(dtype, (pl.List, pl.Array)):
        inner = _walker(dtype.inner)
        if inner is None:
            return None
        return lambda v: None if v is None else [inner(x) for x in v]
    if isinstance(dtype, pl.Struct):
        fields = [(f.name, w) for f in dtype.fields if (w := _walker(f.dtype)) is not None]
        if not fields:
            return None

        def struct(value: Any) -> Any:
            if value is None:
                return None
            marked = dict(value)
            for name, walk in fields:
                marked[name] = walk(marked[name])
            return marked

        return struct
    return None


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
        walkers = [(n, w) for n, t in batch.schema.items() if (w := _walker(t)) is not None]
        records = temporal_as_text(batch).to_dicts()
        for record in records:
            for name, walk in walkers:
                record[name] = walk(record[name])
        self._records += len(records)
        text: str = yaml.dump(
            records,
            Dumper=_Dumper,
            default_flow_style=False,
            allow_unicode=True,
            sort_keys=False,
            # Never fold long strings: one value, one line (or its own quoted lines).
            width=2**31 - 1,
        )
        return header + text.encode()

    def finish(self) -> bytes:
        header = b"" if self._started else self._header
        # A chunk without records is still a sequence, an empty one.
        return header + (b"[]\n" if self._records == 0 else b"")

    def close(self) -> None:
        pass
