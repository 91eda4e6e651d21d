"""The types of tests/unit/test_type_format_matrix.py: one source column per Polars type a
source can produce, each also inside a list, an array, a struct and a list of structs of
lists, with nulls at every level; and the one comparable form ("canonical") that source
values and values read back from any format are both brought to.

Canonical values: integers, booleans, strings, bytes and Decimals as Python has them;
floats as their repr at the column's width (so NaN equals NaN and -0.0 differs from 0.0);
dates as days since 1970, times as nanoseconds since midnight, datetimes and durations as
integers in the column's unit (datetimes as UTC instants), so no digit can be lost on the
way without the comparison seeing it (Python's datetime holds microseconds only)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import polars as pl

ROWS = 8
_NS = {"ms": 1_000_000, "us": 1_000, "ns": 1}
_DIGITS = {"ms": 3, "us": 6, "ns": 9}
_EPOCH_DAY = date(1970, 1, 1).toordinal()


@dataclass(frozen=True)
class Case:
    """One type: its column name, type and ROWS values (as Polars builds them)."""

    name: str
    dtype: pl.DataType
    values: pl.Series
    #: Also exported inside a list, an array, a struct and a list of structs of lists.
    nested: bool = True

    def columns(self) -> dict[str, pl.Series]:
        columns = {self.name: self.values.alias(self.name)}
        if self.nested:
            columns.update(_nested_columns(self.name, self.values))
        return columns


def _series(values: list[Any], dtype: pl.DataType) -> pl.Series:
    return pl.Series(values, dtype=dtype)


def _from_ns(ns: list[int | None], dtype: pl.Datetime | pl.Duration) -> pl.Series:
    """Values given in nanoseconds, floored to the unit of `dtype`."""
    unit = dtype.time_unit or "us"
    physical = [None if v is None else v // _NS[unit] for v in ns]
    return pl.Series(physical, dtype=pl.Int64).cast(dtype)


def _map(key: Any, value: Any, entries: list[tuple[Any, int]], key_as: Any = None) -> pl.Series:
    """ROWS maps of `value`s given as integers (cast to the value type): each row a
    rotation of `entries`, with an empty, a null and a null-valued one among them."""
    rows: list[Any] = []
    for i in range(ROWS):
        if i == 2:
            rows.append(None)
        elif i == 5:
            rows.append([])
        else:
            turned = entries[i % len(entries) :] + entries[: i % len(entries)]
            rows.append(
                [
                    {"key": k, "value": None if i == 3 and n == 0 else v}
                    for n, (k, v) in enumerate(turned)
                ]
            )
    plain = pl.Series(rows, dtype=pl.List(pl.Struct({"key": key, "value": pl.Int64})))
    typed = pl.List(pl.Struct({"key": key_as or key, "value": value}))
    return plain.cast(typed).cast(pl.Map(key_as or key, value))


#: Instants in ns: the epoch and the nanosecond before it, Paris's DST switches (a local
#: time that does not exist and one that happens twice), 1900, 2100 and a last digit.
_INSTANTS = [
    0,
    -1,
    1_711_846_799_123_456_789,
    1_729_990_800_987_654_321,
    None,
    -2_208_988_800_000_000_000,
    946_684_800_000_000_001,
    4_102_444_800_999_999_999,
]
_DURATIONS = [
    0,
    -1,
    1,
    400 * 86_400 * 10**9 + 1,
    -3_600 * 10**9,
    None,
    5_400 * 10**9,
    123_456_789,
]


def _cases() -> list[Case]:
    return [
        Case(
            "bool",
            pl.Boolean(),
            _series([True, False, None, True, False, True, False, None], pl.Boolean()),
        ),
        *(
            Case(
                f"i{bits}",
                kind(),
                _series([-(2 ** (bits - 1)), 2 ** (bits - 1) - 1, 0, None, -1, 1, 7, -7], kind()),
            )
            for bits, kind in ((8, pl.Int8), (16, pl.Int16), (32, pl.Int32), (64, pl.Int64))
        ),
        *(
            Case(
                f"u{bits}",
                kind(),
                _series([0, 2**bits - 1, None, 1, 2 ** (bits - 1), 7, 2**bits - 2, 3], kind()),
            )
            for bits, kind in ((8, pl.UInt8), (16, pl.UInt16), (32, pl.UInt32), (64, pl.UInt64))
        ),
        Case(
            "f16",
            pl.Float16(),
            _series(
                [0.5, float("nan"), float("inf"), float("-inf"), -0.0, None, 65504.0, 6e-08],
                pl.Float16(),
            ),
        ),
        Case(
            "f32",
            pl.Float32(),
            _series(
                [
                    0.1,
                    float("nan"),
                    float("inf"),
                    float("-inf"),
                    -0.0,
                    None,
                    3.4028234663852886e38,
                    1e-45,
                ],
                pl.Float32(),
            ),
        ),
        Case(
            "f64",
            pl.Float64(),
            _series(
                [0.1, float("nan"), float("inf"), float("-inf"), -0.0, None, 1.5e300, 5e-324],
                pl.Float64(),
            ),
        ),
        Case(
            "dec_10_2",
            pl.Decimal(10, 2),
            _series(
                [
                    Decimal(v) if v else None
                    for v in (
                        "12.30",
                        "-0.01",
                        "99999999.99",
                        "",
                        "0.00",
                        "-99999999.99",
                        "1.00",
                        "0.10",
                    )
                ],
                pl.Decimal(10, 2),
            ),
        ),
        Case(
            "dec_38_10",
            pl.Decimal(38, 10),
            _series(
                [
                    Decimal(v) if v else None
                    for v in (
                        "1234567890123456789012345678.0123456789",
                        "-0.0000000001",
                        "",
                        "0E-10",
                        "-9999999999999999999999999999.9999999999",
                        "1",
                        "0.5",
                        "3.1415926535",
                    )
                ],
                pl.Decimal(38, 10),
            ),
        ),
        Case(
            "dec_5_0",
            pl.Decimal(5, 0),
            _series(
                [
                    Decimal(v) if v else None
                    for v in ("99999", "-99999", "0", "", "1", "-1", "10", "100")
                ],
                pl.Decimal(5, 0),
            ),
        ),
        Case(
            "str",
            pl.String(),
            _series(
                [
                    "Zoë 日本語 🙂",
                    "",
                    None,
                    "ctl \x00\x01\x1f\x7f\x85",
                    "crlf\r\nlf\n|\\\"',<&>",
                    "NaN",
                    "null",
                    " \ufffe\uffff\u2028 ",
                ],
                pl.String(),
            ),
        ),
        Case(
            "bin",
            pl.Binary(),
            _series(
                [b"", b"\xff\x00\xfe", b"abc", None, b"\x00", bytes(range(256)), b"null", b"\r\n"],
                pl.Binary(),
            ),
        ),
        Case(
            "date",
            pl.Date(),
            _series(
                [
                    date(1970, 1, 1),
                    date(1969, 12, 31),
                    date(1, 1, 1),
                    date(9999, 12, 31),
                    None,
                    date(2024, 2, 29),
                    date(2000, 1, 1),
                    date(1900, 3, 1),
                ],
                pl.Date(),
            ),
        ),
        Case(
            "time",
            pl.Time(),
            pl.Series(
                [
                    0,
                    86_399_999_999_999,
                    45_001_000_000_001,
                    None,
                    1,
                    1_000,
                    43_200 * 10**9,
                    999_999_999,
                ],
                dtype=pl.Int64,
            ).cast(pl.Time()),
        ),
        *(
            Case(
                f"dt_{unit}_{label}",
                pl.Datetime(unit, zone),
                _from_ns(_INSTANTS, pl.Datetime(unit, zone)),
            )
            for unit in ("ms", "us", "ns")
            for label, zone in (
                ("naive", None),
                ("utc", "UTC"),
                ("paris", "Europe/Paris"),
                ("kolkata", "Asia/Kolkata"),
            )
        ),
        *(
            Case(f"dur_{unit}", pl.Duration(unit), _from_ns(_DURATIONS, pl.Duration(unit)))
            for unit in ("ms", "us", "ns")
        ),
        Case(
            "cat",
            pl.Categorical(),
            _series(["a", "b", None, "a", "", "ü", "b", "a"], pl.Categorical()),
        ),
        Case(
            "enum",
            pl.Enum(["a", "b", "ü", ""]),
            _series(["a", "b", None, "a", "", "ü", "b", "a"], pl.Enum(["a", "b", "ü", ""])),
        ),
        Case("null", pl.Null(), pl.Series([None] * ROWS, dtype=pl.Null())),
        Case(
            "map",
            pl.Map(pl.String, pl.Int64),
            _series(
                [
                    {"a": 1, "b": None},
                    {},
                    None,
                    {"": -1},
                    {"ü": 2**63 - 1},
                    {"a": 0},
                    {"null": None},
                    {"x": 1, "y": 2},
                ],
                pl.Map(pl.String, pl.Int64),
            ),
        ),
        Case(
            "map_dt",
            pl.Map(pl.Int64, pl.Datetime("ns", "UTC")),
            pl.Series(
                [
                    [{"key": 1, "value": 1}],
                    [],
                    None,
                    [{"key": -1, "value": None}],
                    [{"key": 2, "value": -1}],
                    [{"key": 0, "value": 0}],
                    [],
                    [{"key": 3, "value": 2}],
                ],
                dtype=pl.List(pl.Struct({"key": pl.Int64, "value": pl.Int64})),
            )
            .cast(pl.List(pl.Struct({"key": pl.Int64, "value": pl.Datetime("ns", "UTC")})))
            .cast(pl.Map(pl.Int64, pl.Datetime("ns", "UTC"))),
            nested=False,
        ),
        Case(
            "map_zoned",
            pl.Map(pl.String, pl.Datetime("us", "Europe/Paris")),
            _map(
                pl.String,
                pl.Datetime("us", "Europe/Paris"),
                [("a", 1), ("b", -2_208_988_800_000_000), ("", 1_711_846_799_123_456)],
            ),
        ),
        Case(
            "map_date_keys",
            pl.Map(pl.Date, pl.Duration("ns")),
            _map(pl.Int32, pl.Duration("ns"), [(0, 1), (-1, -5_400 * 10**9), (19_000, 0)], pl.Date),
        ),
        Case("allnull_i64", pl.Int64(), pl.Series([None] * ROWS, dtype=pl.Int64()), nested=False),
        Case("allnull_str", pl.String(), pl.Series([None] * ROWS, dtype=pl.String()), nested=False),
    ]


CASES = _cases()


def _nested_columns(name: str, values: pl.Series) -> dict[str, pl.Series]:
    """`values` inside a list, an array of 2, a struct and a list of structs of lists, with
    a null and an empty one at each level."""
    items = values.to_list()
    frame = pl.DataFrame({"v": values, "w": values.slice(1).append(values.slice(0, 1))})
    kind = values.dtype
    listed = frame.select(
        pl.when(pl.int_range(pl.len()) == 1)
        .then(pl.lit([], pl.List(kind)))
        .when(pl.int_range(pl.len()) == 4)
        .then(pl.lit(None, pl.List(kind)))
        .otherwise(pl.concat_list("v", pl.lit(None, kind), "w"))
    ).to_series()
    array = frame.select(
        pl.when(pl.int_range(pl.len()) == 4)
        .then(pl.lit(None))
        .otherwise(pl.concat_list("v", "w"))
        .list.to_array(2)
    ).to_series()
    structs = frame.select(
        pl.when(pl.int_range(pl.len()) == 4)
        .then(pl.lit(None))
        .otherwise(
            pl.struct(pl.col("v").alias("x"), pl.int_range(pl.len(), dtype=pl.Int32).alias("n"))
        )
    ).to_series()
    deep = frame.select(
        pl.when(pl.int_range(pl.len()) == 4)
        .then(pl.lit(None))
        .otherwise(
            pl.concat_list(
                pl.struct(pl.concat_list("v", pl.lit(None, kind)).alias("inner")),
                pl.lit(None, pl.Struct({"inner": pl.List(kind)})),
                pl.struct(pl.lit(None, pl.List(kind)).alias("inner")),
            )
        )
    ).to_series()
    assert len(items) == ROWS
    return {
        f"list_{name}": listed.alias(f"list_{name}"),
        f"array_{name}": array.alias(f"array_{name}"),
        f"struct_{name}": structs.alias(f"struct_{name}"),
        f"deep_{name}": deep.alias(f"deep_{name}"),
    }


def source_frame() -> pl.DataFrame:
    columns: dict[str, pl.Series] = {}
    for case in CASES:
        columns.update(case.columns())
    return pl.DataFrame(columns)


def family(column: str) -> str:
    return column.split("_", 1)[1] if column.split("_", 1)[0] in _SHAPES else column


_SHAPES = {"list", "array", "struct", "deep"}


# --- canonical values -------------------------------------------------------------------


def _physical(dtype: pl.DataType) -> pl.DataType:
    """The type whose Python values are canonical (temporal types as integers)."""
    if isinstance(dtype, pl.Datetime | pl.Duration | pl.Time):
        return pl.Int64()
    if isinstance(dtype, pl.Date):
        return pl.Int32()
    if isinstance(dtype, pl.Categorical | pl.Enum):
        return pl.String()
    if isinstance(dtype, pl.List):
        return pl.List(_physical(instance(dtype.inner)))
    if isinstance(dtype, pl.Array):
        return pl.Array(_physical(instance(dtype.inner)), dtype.size)
    if isinstance(dtype, pl.Struct):
        return pl.Struct({f.name: _physical(instance(f.dtype)) for f in dtype.fields})
    if isinstance(dtype, pl.Map):
        # Polars casts no map keys: a date key stays a date (see _floats).
        return pl.Map(instance(dtype.key), _physical(instance(dtype.value)))
    return dtype


def instance(dtype: Any) -> pl.DataType:
    return dtype() if isinstance(dtype, pl.datatypes.DataTypeClass) else dtype  # type: ignore[no-any-return]


def canonical_series(series: pl.Series) -> list[Any]:
    """The canonical values of a column (source or read back from Parquet / Arrow)."""
    dtype = series.dtype
    return [_floats(v, dtype) for v in series.cast(_physical(dtype)).to_list()]


def _floats(value: Any, dtype: Any) -> Any:
    """Floats as their repr at the column's width, inside nested values too."""
    dtype = instance(dtype)
    if value is None:
        return None
    if isinstance(dtype, pl.Struct):
        return {f.name: _floats(value[f.name], f.dtype) for f in dtype.fields}
    if isinstance(dtype, pl.List | pl.Array):
        return [_floats(v, dtype.inner) for v in value]
    if isinstance(dtype, pl.Map):
        days = isinstance(instance(dtype.key), pl.Date)
        return {
            (k.toordinal() - _EPOCH_DAY if days else _floats(k, dtype.key)): _floats(v, dtype.value)
            for k, v in value.items()
        }
    if dtype.is_float():
        return repr(width(float(value), dtype))
    return value


def width(value: float, dtype: pl.DataType) -> float:
    code = {pl.Float16: "e", pl.Float32: "f"}.get(type(dtype))
    return value if code is None else float(struct.unpack(code, struct.pack(code, value))[0])
