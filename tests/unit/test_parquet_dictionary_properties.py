"""The Parquet dictionary choice (parquet_dictionary) counts less than an exact count of
every leaf's distinct values, and must still choose exactly the columns that count
chooses: the same columns give byte-identical chunks, and a resumed chunk must be encoded
as before. `exact_dictionary_columns` is that count as it was (6b2763d), the reference."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.server.pipeline.parquet_dictionary import (
    DICTIONARY_MAX_DISTINCT_SHARE,
    _prefix_verdict,
    dictionary_columns,
)

# --- the reference: every leaf's distinct values counted exactly ----------------------


def exact_dictionary_columns(batch: pl.DataFrame) -> list[str]:
    return [path for path, values in _exact_leaves(batch) if _exact_repetitive(values)]


def _exact_repetitive(values: pl.Series) -> bool:
    present = values.drop_nulls()
    return present.len() > 0 and present.n_unique() <= present.len() * (
        DICTIONARY_MAX_DISTINCT_SHARE
    )


def _exact_leaves(batch: pl.DataFrame) -> Iterator[tuple[str, pl.Series]]:
    for column in batch.iter_columns():
        yield from _exact_leaf_values(column.name, column)


def _exact_leaf_values(path: str, values: pl.Series) -> Iterator[tuple[str, pl.Series]]:
    dtype = values.dtype
    if isinstance(dtype, pl.Struct):
        for field in dtype.fields:
            yield from _exact_leaf_values(f"{path}.{field.name}", values.struct.field(field.name))
    elif isinstance(dtype, pl.List | pl.Array):
        yield from _exact_leaf_values(f"{path}.list.element", values.explode())
    else:
        yield path, values


def assert_same_choice(frame: pl.DataFrame) -> None:
    assert dictionary_columns(frame) == exact_dictionary_columns(frame)


# --- frames of every leaf shape, with values drawn one by one (hypothesis shrinks them) -


def _kinds() -> dict[str, tuple[pl.DataType, st.SearchStrategy[Any]]]:
    small_ints = st.integers(-3, 3)
    return {
        "bool": (pl.Boolean(), st.booleans()),
        "i8": (pl.Int8(), st.integers(-128, 127) | small_ints),
        "u8": (pl.UInt8(), st.integers(0, 255) | st.integers(0, 3)),
        "i16": (pl.Int16(), st.integers(-(2**15), 2**15 - 1) | small_ints),
        "i64": (pl.Int64(), st.integers(-(2**63), 2**63 - 1) | small_ints),
        "u64": (pl.UInt64(), st.integers(0, 2**64 - 1) | st.integers(0, 3)),
        # NaN, -0.0 and infinities: equal or not as Polars counts them, the same both ways.
        "f64": (pl.Float64(), st.floats() | st.sampled_from([0.0, -0.0, float("nan")])),
        "f32": (pl.Float32(), st.floats(width=32) | st.sampled_from([0.0, -0.0])),
        # Short strings sit inline in a Polars view, long ones (> 12 bytes) in a buffer.
        "str": (pl.String(), st.text(max_size=3) | st.text(min_size=12, max_size=20)),
        "bin": (pl.Binary(), st.binary(max_size=14)),
        "date": (pl.Date(), st.dates(date(1969, 12, 25), date(1970, 1, 5))),
        "datetime": (
            pl.Datetime("us", "UTC"),
            st.integers(0, 5).map(lambda s: datetime(2024, 1, 1, tzinfo=UTC) + timedelta(s)),
        ),
        "time": (pl.Time(), st.sampled_from([time(0), time(1, 2, 3), time(23, 59, 59, 999)])),
        "duration": (pl.Duration("ms"), st.integers(-2, 2).map(lambda s: timedelta(seconds=s))),
        "decimal": (pl.Decimal(10, 2), st.integers(-300, 300).map(lambda c: Decimal(c) / 100)),
        "cat": (pl.Categorical(), st.sampled_from(["a", "b", "c", "d", "e"])),
        "enum": (pl.Enum(["a", "b", "c", "d", "e", "f"]), st.sampled_from(["a", "b", "c"])),
        "null": (pl.Null(), st.none()),
    }


KINDS = _kinds()


@st.composite
def _column(draw: st.DrawFn, rows: int, depth: int = 0) -> tuple[pl.DataType, list[Any]]:
    """A dtype and `rows` Python values of it (None for a null row)."""
    shapes = ["scalar"] * 3 + (["list", "array", "struct"] if depth < 2 else [])
    shape = draw(st.sampled_from(shapes))
    nullable = draw(st.booleans())

    def maybe(value: Any) -> Any:
        return None if nullable and draw(st.integers(0, 3)) == 0 else value

    if shape == "scalar":
        dtype, values = KINDS[draw(st.sampled_from(sorted(KINDS)))]
        return dtype, [maybe(draw(values)) for _ in range(rows)]
    if shape == "struct":
        a_type, a_values = draw(_column(rows, depth + 1))
        b_type, b_values = draw(_column(rows, depth + 1))
        dtype = pl.Struct({"a": a_type, "b": b_type})
        return dtype, [maybe({"a": a, "b": b}) for a, b in zip(a_values, b_values, strict=True)]
    if shape == "array":
        width = draw(st.integers(1, 3))
        inner_type, inner = draw(_column(rows * width, depth + 1))
        rows_of = [inner[i * width : (i + 1) * width] for i in range(rows)]
        return pl.Array(inner_type, width), [maybe(v) for v in rows_of]
    lengths = [draw(st.integers(0, 4)) for _ in range(rows)]
    inner_type, inner = draw(_column(sum(lengths), depth + 1))
    starts = [sum(lengths[:i]) for i in range(rows)]
    return pl.List(inner_type), [
        maybe(inner[start : start + n]) for start, n in zip(starts, lengths, strict=True)
    ]


@st.composite
def frames(draw: st.DrawFn) -> pl.DataFrame:
    rows = draw(st.integers(0, 24))
    columns = {}
    for i in range(draw(st.integers(1, 4))):
        dtype, values = draw(_column(rows))
        columns[f"c{i}"] = pl.Series(values, dtype=dtype)
    return pl.DataFrame(columns)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_the_choice_is_the_exact_counts_on_frames_of_every_shape(frame: pl.DataFrame) -> None:
    assert_same_choice(frame)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_a_prefix_settles_a_leaf_only_as_the_exact_count_does(frame: pl.DataFrame) -> None:
    """Whichever prefix the prediction picks: every prefix of every leaf, counted."""
    for _, values in _exact_leaves(frame):
        present = values.drop_nulls()
        if present.len() == 0:
            continue
        exact = _exact_repetitive(values)
        limit = present.len() * DICTIONARY_MAX_DISTINCT_SHARE
        for rows in range(values.len() + 1):
            assert _prefix_verdict(values.head(rows), present.len(), limit) in (None, exact)


# --- batches up to the pipeline's size, with as many distinct values as drawn ----------


def _value_of(kind: str, i: int) -> Any:
    """The `i`th value of `kind`: distinct for distinct `i` where the type has room."""
    base = datetime(2024, 1, 1, tzinfo=UTC)
    return {
        "bool": lambda: i % 2 == 0,
        "i8": lambda: i % 256 - 128,
        "u8": lambda: i % 256,
        "i16": lambda: i % 2**16 - 2**15,
        "i64": lambda: i * 7_919 - 10**9,
        "u64": lambda: 2**64 - 1 - i,
        "f64": lambda: -0.0 if i == 0 else i / 4,
        "f32": lambda: float(i),
        "str": lambda: str(i) if i % 2 else f"a longer value, number {i}",
        "bin": lambda: i.to_bytes(8, "little"),
        "date": lambda: date(2000, 1, 1) + timedelta(i),
        "datetime": lambda: base + timedelta(microseconds=i),
        "duration": lambda: timedelta(milliseconds=i),
        "cat": lambda: f"c{i}",
        "enum": lambda: f"e{i % 300}",
    }[kind]()


_SIZED_KINDS = {
    name: KINDS[name][0] for name in KINDS if name not in ("time", "decimal", "null", "enum")
} | {"enum": pl.Enum([f"e{i}" for i in range(300)])}


@st.composite
def sized_frames(draw: st.DrawFn) -> pl.DataFrame:
    """One column of up to 70,000 rows: `distinct` values (a share of the rows drawn near
    the threshold), nulls, in an order that puts the distinct values early, late, sorted
    or anywhere, as a scalar, a list or a struct's field."""
    rows = draw(st.sampled_from([1, 2, 3, 5, 9, 100, 1_000, 4_097, 16_385, 30_000, 65_536, 70_000]))
    share = draw(st.sampled_from([0.0, 0.1, 0.45, 0.49, 0.5, 0.51, 0.55, 0.9, 1.0]))
    distinct = max(1, round(rows * share) + draw(st.integers(-2, 2)))
    nulls = draw(st.sampled_from([0.0, 0.0, 0.01, 0.3, 0.99, 1.0]))
    order = draw(st.sampled_from(["anywhere", "distinct-first", "distinct-last", "sorted"]))
    kind = draw(st.sampled_from(sorted(_SIZED_KINDS)))
    shape = draw(st.sampled_from(["scalar", "list", "struct"]))
    rnd = random.Random(draw(st.integers(0, 2**32)))

    picks = [rnd.randrange(distinct) for _ in range(rows)]
    if order == "distinct-first":
        picks = list(range(min(rows, distinct))) + picks[distinct:]
    elif order == "distinct-last":
        picks = picks[: max(0, rows - distinct)] + list(range(min(rows, distinct)))
    elif order == "sorted":
        picks.sort()
    values = [None if rnd.random() < nulls else _value_of(kind, i) for i in picks]
    column = pl.Series("c", values, dtype=_SIZED_KINDS[kind])
    if shape == "list":
        # Lists over the values, some null, and some of those over values (Arrow allows
        # it): none of a null list's values is a leaf value.
        offsets = [0]
        for _ in range(rows):
            offsets.append(min(rows, offsets[-1] + rnd.randrange(4)))
        lists = pa.LargeListArray.from_arrays(
            pa.array(offsets, pa.int64()),
            column.to_arrow(),
            mask=pa.array([rnd.random() < nulls for _ in range(rows)]),
        )
        column = pl.Series("c", lists).cast(pl.List(column.dtype))
    elif shape == "struct":
        column = pl.DataFrame({"f": column, "n": pl.Series([1] * rows)}).to_struct("c")
    return column.to_frame()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sized_frames())
def test_the_choice_is_the_exact_counts_on_batches_near_the_threshold(frame: pl.DataFrame) -> None:
    assert_same_choice(frame)


# --- the cases the shortcuts turn on ----------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "values", "repetitive"),
    [
        # At most 2 distinct Booleans: repetitive from 4 present values on, not before.
        (pl.Boolean(), [True, False, None, True], False),
        (pl.Boolean(), [True, False, None, True, False], True),
        (pl.Boolean(), [True, True, True], True),
        (pl.UInt8(), list(range(256)) * 2, True),
        (pl.UInt8(), list(range(256)) + [0] * 255, False),
        (pl.Int8(), list(range(-128, 128)) * 2, True),
        (pl.Enum(["a", "b", "c"]), ["a", "b", "c", "a", "b", "c"], True),
        (pl.Enum(["a", "b", "c"]), ["a", "b", "c", "a", "b"], False),
    ],
)
def test_types_with_few_values_are_repetitive_only_where_their_count_is(
    dtype: pl.DataType, values: list[Any], repetitive: bool
) -> None:
    frame = pl.Series("c", values, dtype=dtype).to_frame()
    assert dictionary_columns(frame) == (["c"] if repetitive else [])
    assert_same_choice(frame)


def test_values_under_a_null_list_are_not_the_leafs() -> None:
    """Arrow lets a null list span values; they are not written, so not counted: here
    they would make the repeated tags look distinct."""
    hidden = [f"hidden-{i}" for i in range(100)]
    offsets = [0, 2, 2 + len(hidden), 4 + len(hidden)]
    lists = pa.LargeListArray.from_arrays(
        pa.array(offsets, pa.int64()),
        pa.array(["a", "a", *hidden, "a", "a"]),
        mask=pa.array([False, True, False]),
    )
    frame = pl.Series("tags", lists).to_frame()
    assert dictionary_columns(frame) == ["tags.list.element"]
    assert_same_choice(frame)


@pytest.mark.parametrize("distinct_after", [0, 1, 2])
def test_a_batch_settled_at_the_share_itself(distinct_after: int) -> None:
    """65,536 values, the first 40,000 holding exactly half of them distinct: the share
    is reached, not passed, so whether the rest adds one decides."""
    rows, limit = 65_536, 32_768
    first = list(range(limit)) + [0] * (40_000 - limit)
    rest = [0] * (rows - 40_000 - distinct_after) + [-1 - i for i in range(distinct_after)]
    frame = pl.Series("c", first + rest).to_frame()
    assert dictionary_columns(frame) == (["c"] if distinct_after == 0 else [])
    assert_same_choice(frame)


@pytest.mark.parametrize(
    ("rest", "chosen"),
    [(["a"] * 15_904, ["c"]), ([f"v{i}" for i in range(15_904)], [])],
)
def test_a_value_among_nulls_after_the_first_probe_half_does_not_overflow(
    rest: list[str], chosen: list[str]
) -> None:
    """Rows 2,048-4,095 null but for one new value: the probe's two counts fit a huge
    power, which overflowed a Python float (the export failed where the count answers)."""
    values = ["a"] * 2048 + ["b"] + [None] * 2047 + rest
    frame = pl.Series("c", values).to_frame()
    assert dictionary_columns(frame) == chosen
    assert_same_choice(frame)
