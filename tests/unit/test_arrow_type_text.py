"""Arrow types read back from the text a manifest records (`str(pa.DataType)`): an
export with no records takes its columns from there (sluice.format.arrow_types)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from sluice.format.arrow_types import arrow_schema_of, arrow_type
from sluice.format.manifest import SchemaField

TYPES = [
    pa.int8(),
    pa.uint64(),
    pa.float16(),
    pa.float64(),
    pa.bool_(),
    pa.string(),
    pa.large_string(),
    pa.string_view(),
    pa.large_binary(),
    pa.binary(16),
    pa.date32(),
    pa.time64("us"),
    pa.timestamp("us"),
    pa.timestamp("ns", tz="Europe/Madrid"),
    pa.timestamp("us", tz="+01:00"),
    pa.duration("ms"),
    pa.decimal128(10, 2),
    pa.decimal256(40, 5),
    pa.list_(pa.int64()),
    pa.large_list(pa.large_string()),
    pa.list_(pa.field("item", pa.int64(), nullable=False)),
    pa.list_(pa.int32(), 3),
    pa.struct([("a", pa.int64()), ("b", pa.struct([("c", pa.list_(pa.string()))]))]),
    pa.struct([pa.field("x y", pa.string(), nullable=False)]),
    pa.map_(pa.string(), pa.int64()),
    pa.dictionary(pa.int32(), pa.string()),
    pa.null(),
]


@pytest.mark.parametrize("kind", TYPES, ids=str)
def test_a_type_reads_back_from_its_text(kind: pa.DataType) -> None:
    assert arrow_type(str(kind)) == kind


@pytest.mark.parametrize("text", ["", "weird<", "list<item: int64, x: y>", "timestamp[fortnight]"])
def test_text_that_is_no_type_is_none(text: str) -> None:
    assert arrow_type(text) is None


def test_a_schema_keeps_names_and_nullability_and_stands_null_for_the_unknown() -> None:
    schema = arrow_schema_of(
        [SchemaField("id", "int64", nullable=False), SchemaField("odd", "weird<", True)]
    )
    assert schema == pa.schema([pa.field("id", pa.int64(), nullable=False), ("odd", pa.null())])
