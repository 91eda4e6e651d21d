"""The Parquet dictionary choice (parquet_dictionary) counts less than an exact count of
every leaf's distinct values, and must still choose exactly the columns that count
chooses: the same columns give byte-identical chunks, and a resumed chunk must be encoded
as before. `exact_dictionary_columns` is that count as it was (6b2763d), the reference."""

from __future__ import annotations

import itertools
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
    _settling_prefix,
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


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_the_choice_is_the_exact_counts_on_frames_of_every_shape(frame: pl.DataFrame) -> None:
    """The choice, and every prefix of every leaf counted, whichever the prediction picks:
    one test, as drawing the frames (value by value, so that hypothesis shrinks them)
    costs more than both checks."""
    assert_same_choice(frame)
    for _, values in _exact_leaves(frame):
        present = values.drop_nulls()
        if present.len() == 0:
            continue
        exact = _exact_repetitive(values)
        limit = present.len() * DICTIONARY_MAX_DISTINCT_SHARE
        for rows in range(values.len() + 1):
            assert _prefix_verdict(values.head(rows), present.len(), limit) in (None, exact)


# --- batches up to the pipeline's size, with as many distinct values as drawn ----------

_SIZED_KINDS: dict[str, pl.DataType] = {
    name: KINDS[name][0] for name in KINDS if name not in ("time", "decimal", "null", "enum")
} | {"enum": pl.Enum([f"e{i}" for i in range(300)])}
_DAYS_TO_2000 = (date(2000, 1, 1) - date(1970, 1, 1)).days
_MICROSECONDS_TO_2024 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) * 10**6


def _ints(rnd: random.Random, high: int, rows: int) -> pl.Series:
    """`rows` integers drawn from [0, high), by Polars (not value by value: 70,000 rows)."""
    seed = rnd.randrange(2**32)
    return pl.int_range(0, high, eager=True).sample(rows, with_replacement=True, seed=seed)


def _chance(rnd: random.Random, share: float, rows: int) -> pl.Series:
    """`rows` Booleans, each set with chance `share`."""
    return _ints(rnd, 1_000_000, rows) < share * 1_000_000


def _values_of(kind: str, picks: pl.Series, null: pl.Series) -> pl.Series:
    """Values of `kind`, the `i`th distinct for distinct picks `i` where the type has
    room (Booleans and the 8-bit integers wrap), null where `null` is set."""
    i = pl.col("i")
    expression = {
        "bool": i % 2 == 0,
        "i8": (i % 256 - 128).cast(pl.Int8),
        "u8": (i % 256).cast(pl.UInt8),
        "i16": (i % 2**16 - 2**15).cast(pl.Int16),
        "i64": i * 7_919 - 10**9,
        "u64": pl.lit(2**64 - 1, pl.UInt64) - i.cast(pl.UInt64),
        "f64": pl.when(i == 0).then(-0.0).otherwise(i / 4),
        "f32": i.cast(pl.Float32),
        # Short strings sit inline in a Polars view, long ones (> 12 bytes) in a buffer.
        "str": pl.when(i % 2 == 1)
        .then(i.cast(pl.String))
        .otherwise(pl.format("a longer value, number {}", i)),
        "bin": pl.format("b{}", i).cast(pl.Binary),
        "date": (i + _DAYS_TO_2000).cast(pl.Int32).cast(pl.Date),
        "datetime": (i + _MICROSECONDS_TO_2024).cast(pl.Datetime("us", "UTC")),
        "duration": i.cast(pl.Duration("ms")),
        "cat": pl.format("c{}", i).cast(pl.Categorical),
        "enum": pl.format("e{}", i % 300).cast(_SIZED_KINDS["enum"]),
    }[kind]
    frame = pl.DataFrame({"i": picks.cast(pl.Int64), "null": null})
    return frame.select(pl.when("null").then(None).otherwise(expression).alias("c")).to_series()


def _shaped(draw: st.DrawFn, column: pl.Series, rnd: random.Random, nulls: float) -> pl.DataFrame:
    """`column` as a scalar, lists over its values or a struct's field."""
    rows = column.len()
    shape = draw(st.sampled_from(["scalar", "list", "struct"]))
    if shape == "list":
        # Lists over the values, some null, and some of those over values (Arrow allows
        # it): none of a null list's values is a leaf value.
        ends = _ints(rnd, 4, rows).cum_sum().clip(upper_bound=rows)
        lists = pa.LargeListArray.from_arrays(
            pl.concat([pl.Series([0]), ends]).cast(pl.Int64).to_arrow(),
            column.to_arrow(),
            mask=_chance(rnd, nulls, rows).to_arrow(),
        )
        column = pl.Series("c", lists).cast(pl.List(column.dtype))
    elif shape == "struct":
        column = pl.DataFrame({"f": column, "n": pl.Series([1] * rows)}).to_struct("c")
    return column.to_frame()


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
    rnd = random.Random(draw(st.integers(0, 2**32)))

    picks = _ints(rnd, distinct, rows)
    every = pl.int_range(0, min(rows, distinct), eager=True)
    if order == "distinct-first":
        picks = pl.concat([every, picks[distinct:].cast(pl.Int64)])
    elif order == "distinct-last":
        picks = pl.concat([picks[: max(0, rows - distinct)].cast(pl.Int64), every])
    elif order == "sorted":
        picks = picks.sort()
    return _shaped(draw, _values_of(kind, picks, _chance(rnd, nulls, rows)), rnd, nulls)


_SEGMENTS = ["nulls", "constant", "distinct", "small pool", "sparse"]


@st.composite
def run_leaves(draw: st.DrawFn) -> tuple[pl.Series, pl.Series]:
    """Value picks and a null mask for a leaf long enough to be predicted (16,385 to
    70,000 rows) made of runs, cut where the probe's two counts end (2,048 and 4,096, or
    a row either side) and at random rows: a run of nulls, of one value, of distinct
    values, of a few values or of nulls with a few new values among them."""
    rows = draw(st.integers(4 * 4096 + 1, 70_000))
    cuts = {draw(st.sampled_from([2047, 2048, 2049])), draw(st.sampled_from([4095, 4096, 4097]))}
    cuts |= set(draw(st.lists(st.integers(1, rows - 1), max_size=3)))
    rnd = random.Random(draw(st.integers(0, 2**32)))
    picks, nulls, fresh = [], [], 0
    for start, end in itertools.pairwise([0, *sorted(cuts), rows]):
        length, segment = end - start, draw(st.sampled_from(_SEGMENTS))
        null = pl.repeat(segment in ("nulls", "sparse"), length, eager=True)
        if segment == "constant":  # the first run's value again, or a new one
            picks.append(pl.repeat(draw(st.integers(0, 1)) * fresh, length, eager=True))
        elif segment == "small pool":
            picks.append(fresh + _ints(rnd, draw(st.integers(1, 50)), length))
        else:  # distinct, and the few values shown among a sparse run's nulls
            picks.append(fresh + pl.int_range(0, length, eager=True))
        if segment == "sparse":
            null = null.scatter(_ints(rnd, length, draw(st.integers(1, 3))), False)
        nulls.append(null)
        fresh += length
    return pl.concat([run.cast(pl.Int64) for run in picks]), pl.concat(nulls)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sized_frames())
def test_the_choice_is_the_exact_counts_on_batches_near_the_threshold(frame: pl.DataFrame) -> None:
    assert_same_choice(frame)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run_leaves(), st.sampled_from(sorted(_SIZED_KINDS)), st.integers(0, 2**32), st.data())
def test_the_choice_is_the_exact_counts_on_batches_of_runs(
    leaf: tuple[pl.Series, pl.Series], kind: str, seed: int, data: st.DataObject
) -> None:
    picks, null = leaf
    frame = _shaped(data.draw, _values_of(kind, picks, null), random.Random(seed), 0.0)
    assert_same_choice(frame)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run_leaves(), st.floats(0.0, 1.0))
def test_the_predicted_prefix_is_a_length_of_the_leaf(
    leaf: tuple[pl.Series, pl.Series], share: float
) -> None:
    """Whatever the probe's counts and whatever the limit: no arithmetic in the prediction
    raises (the export would fail), and the prefix is some of the leaf's rows."""
    picks, null = leaf
    values = (
        pl.Series("c", picks)
        .to_frame()
        .select(pl.when(pl.Series(null)).then(None).otherwise(pl.col("c")))
        .to_series()
    )
    present = values.len() - values.null_count()
    if present == 0:
        return
    rows = _settling_prefix(values, present, present * share)
    assert 1 <= rows <= values.len()


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
