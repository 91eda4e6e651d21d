"""Actions as Polars expressions: what happens to a value (or to a match inside text).

`hmac_sha256_hex` is HMAC-SHA256 (RFC 2104) built from the polars-hash SHA-256 kernel:
H((K ^ opad) || H((K ^ ipad) || m)). The key must never appear in a query plan, which
Polars prints in errors and `explain()`: the padded keys live only in the closure of an
opaque batch function, and a failure inside it is re-raised without its details.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Final

import polars as pl
import polars_hash
from polars.plugins import register_plugin_function

from sluice.server.pipeline.polars_panics import POLARS_FAILURES

ACTIONS: Final = ("drop", "null", "redact", "mask", "hash", "generalize", "keep")
#: Actions that only make sense on a whole column.
COLUMN_ONLY_ACTIONS: Final = frozenset({"drop", "generalize"})
DATE_GRANULARITIES: Final = ("year", "month", "day")
_BLOCK: Final = 64
_PLUGIN: Final = Path(polars_hash.__file__).parent
#: Hex characters of the pseudonym written in place of a match inside text.
TEXT_PSEUDONYM_HEX: Final = 16


@dataclass(frozen=True)
class HashKey:
    """A resolved HMAC key. Its repr never shows the key."""

    name: str
    secret: bytes

    def __repr__(self) -> str:
        return f"HashKey({self.name}, id={self.key_id})"

    @property
    def key_id(self) -> str:
        """A fingerprint that tells keys apart in the manifest without revealing them."""
        return hmac.new(self.secret, b"sluice key id", hashlib.sha256).hexdigest()[:16]


def sha256_hex(data: pl.Expr) -> pl.Expr:
    return register_plugin_function(
        plugin_path=_PLUGIN, function_name="sha2_256", args=data, is_elementwise=True
    )


def hmac_sha256_hex(message: pl.Expr, key: HashKey) -> pl.Expr:
    secret = key.secret
    if len(secret) > _BLOCK:
        secret = hashlib.sha256(secret).digest()
    secret = secret.ljust(_BLOCK, b"\0")
    inner_pad = bytes(b ^ 0x36 for b in secret).hex()
    outer_pad = bytes(b ^ 0x5C for b in secret).hex()

    def keyed_digest(values: pl.Series) -> pl.Series:
        # Vectorised per batch; the pads exist only here, never in the outer plan.
        try:
            text = pl.col("m").str.encode("hex")
            inner = sha256_hex(pl.concat_str(pl.lit(inner_pad), text).str.decode("hex"))
            outer = sha256_hex(pl.concat_str(pl.lit(outer_pad), inner).str.decode("hex"))
            return values.to_frame("m").select(outer).to_series().alias(values.name)
        except POLARS_FAILURES:  # the message could quote the pads
            raise RuntimeError(f"keyed hashing with key {key.name!r} failed") from None

    return message.map_batches(keyed_digest, return_dtype=pl.String, is_elementwise=True)


def mask(text: pl.Expr, keep_last: int) -> pl.Expr:
    """Every character but the last `keep_last` becomes "*"; the length stays. A mask
    never shows more than it hides: of a value of L characters it shows the last
    min(`keep_last`, L // 2), so `mask:4` writes `abcde` as `***de` (it showed `bcde`,
    nearly the whole secret), and a value of `keep_last` characters or fewer is masked
    whole, as before (`mask:8` on a password of 6). Values of 2 x `keep_last`
    characters or more show `keep_last`, as they did."""
    stars = r"(?s)."
    if keep_last <= 0:
        return text.str.replace_all(stars, "*")
    shown = mask_shown(text, keep_last)
    hidden = text.str.head(text.str.len_chars().cast(pl.Int64) - shown)
    return pl.concat_str(hidden.str.replace_all(stars, "*"), text.str.tail(shown))


def mask_shown(text: pl.Expr, keep_last: int) -> pl.Expr:
    """How many last characters `mask` shows of each value (mask's rule)."""
    length = text.str.len_chars().cast(pl.Int64)
    return (
        pl.when(length > keep_last)
        .then(pl.min_horizontal(pl.lit(keep_last, dtype=pl.Int64), length // 2))
        .otherwise(pl.lit(0, dtype=pl.Int64))
    )


def as_text(value: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """The value as text for a mask or a hash, whatever its type (a mask or a hash must
    not fail the export): a Duration, which Polars cannot cast to text, by its count of
    time units (its physical integer, so it depends on the column's unit); bytes as their
    UTF-8 text, as a String column of the same text (the same pseudonym in every export),
    or in hex where they are not UTF-8."""
    if dtype == pl.String:
        return value
    if isinstance(dtype, pl.Duration):
        return value.to_physical().cast(pl.String)
    if dtype == pl.Binary:
        return value.map_batches(_bytes_as_text, return_dtype=pl.String)
    return value.cast(pl.String)


def _bytes_as_text(values: pl.Series) -> pl.Series:
    """UTF-8 bytes as their text (one cast per batch); only a batch holding bytes that are
    not UTF-8, which Polars refuses to cast, is read value by value, those in hex."""
    try:
        return values.cast(pl.String)
    except pl.exceptions.ComputeError:
        return pl.Series(values.name, [_text_or_hex(v) for v in values], dtype=pl.String)


def _text_or_hex(value: bytes | None) -> str | None:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.hex()


def tag(label: str) -> str:
    return f"[{label}]"


def whole_value(
    value: pl.Expr,
    dtype: pl.DataType,
    action: str,
    *,
    label: str,
    keep_last: int = 0,
    granularity: str = "",
    key: HashKey | None = None,
) -> pl.Expr:
    """The new value of a column (or nested field) under a column rule. `drop` and
    `keep` are handled by the caller (they remove or leave the column)."""
    if action == "null":
        return pl.lit(None, dtype=dtype)
    if action == "redact":
        return pl.when(value.is_not_null()).then(pl.lit(tag(label))).otherwise(None)
    if action == "mask":
        return mask(as_text(value, dtype), keep_last)
    if action == "hash":
        assert key is not None
        return hmac_sha256_hex(as_text(value, dtype), key)
    if action == "generalize":
        return generalize(value, dtype, granularity)
    raise ValueError(f"no whole-value form for action {action!r}")


def generalize(value: pl.Expr, dtype: pl.DataType, granularity: str) -> pl.Expr:
    """Dates to "YYYY" or "YYYY-MM" (or a Date for "day"); numbers to the lower edge of a
    bucket of the given width; date-like text by its leading year or year-month.

    A type the granularity does not fit (only a level default or a policy reaches here
    with one: a request's rule is refused, see generalized_type) never passes through:
    a number read as yyyymmdd is generalised as a date, keeping its type (19900506 ->
    1990), anything else becomes null."""
    if not generalized_type(dtype, granularity):
        return _generalized_or_null(value, dtype, granularity)
    if _is_date(dtype):
        if granularity == "day":
            return value.cast(pl.Date)
        return value.dt.strftime("%Y" if granularity == "year" else "%Y-%m")
    if dtype == pl.String and granularity in DATE_GRANULARITIES:
        if granularity == "year":
            return value.str.extract(r"\b((?:1[89]|20)[0-9]{2})\b", 1)
        return value.str.extract(r"\b((?:1[89]|20)[0-9]{2}[-/.](?:0[1-9]|1[0-2]))\b", 1)
    width = float(granularity)
    number = value.cast(pl.Float64, strict=False) if dtype == pl.String else value
    # A whole width Polars takes as an integer (it widens a narrow column to hold the
    # edge below: Int8 at 1000 is Int16); from 2**63 on it is none (1e300 raised
    # building the redactor, 1e20 gave nulls), and every value is in the bucket at zero
    # or the one below it: the plain floor of the quotient, as a float.
    if dtype.is_integer() and _integer_path(width):
        return (number // int(width)) * int(width)
    return _bucket_floor(number.cast(pl.Float64), granularity)


def _bucket_floor(number: pl.Expr, granularity: str) -> pl.Expr:
    """The lower edge of `number`'s bucket, as the decimals write it: 40.4 at width 0.1
    is 40.4. Binary floats put edges off by a unit in the last place (404 * 0.1 is
    40.400000000000006) and a value on an edge in the bucket below (0.29 / 0.01 is
    28.999999999999996, floored to 28). The width is read as a whole number of units
    of its last decimal (0.1: 1 / 10), an edge rounded to the width's decimals (the
    float nearest the decimal edge); the division's floor is then moved by one where
    the value is below its edge or at or past the next, compared as floats (the float
    nearest a decimal grows with it, so this compares the decimals)."""
    exact = Decimal(granularity)
    places = _places(exact)
    width = float(granularity)
    # The plain floor of the quotient: exact where the edges below are not. A width
    # with more decimals than a float holds (`1e-39`: 10**39 is no Polars integer) or
    # more units than one holds exactly: planning refuses those (held_width), a caller
    # of this module may not.
    plain = (number / width).floor() * width
    if not held_width(granularity):
        return plain
    scale = 10**places
    units = int(exact * scale)

    def edge(bucket: pl.Expr) -> pl.Expr:
        # Polars divides by a scalar as a product with its inverse (403 / 10 is
        # 40.300000000000004): the rounding gives the float nearest the decimal.
        written: pl.Expr = (bucket * units / scale).round(places)
        return written

    bucket = (number * scale / units).floor()
    bucket = pl.when(number < edge(bucket)).then(bucket - 1).otherwise(bucket)
    bucket = pl.when(number >= edge(bucket + 1)).then(bucket + 1).otherwise(bucket)
    # Past 2**53 units a bucket's product with its units is rounded (0.25 at 1e14 and
    # beyond), where the plain floor is exact.
    return (
        pl.when((number * scale).abs() < _EXACT_FLOAT_INTEGERS).then(edge(bucket)).otherwise(plain)
    )


#: Beyond these, a generalised number's bucket is the plain floor of its quotient by the
#: width: a float holds ~15-17 significant decimals, and integers exactly up to 2**53.
_MOST_PLACES: Final = 15
_EXACT_FLOAT_INTEGERS: Final = 2**53
_LARGEST_INTEGER_WIDTH: Final = 2**63


#: Why planning refuses a width (held_width, width_fits).
WIDTH_REFUSAL: Final = (
    "a bucket width may have at most 15 decimals and at most 2**53 units of its last"
    " decimal (on an integer column, or be a whole number below 2**63)"
)


def _integer_path(width: float) -> bool:
    """Whether an integer column is generalised by whole integers at this width."""
    return width.is_integer() and int(width) < _LARGEST_INTEGER_WIDTH


def width_fits(dtype: pl.DataType, granularity: str) -> bool:
    """Whether a positive bucket width generalises a column of `dtype` exactly: on an
    integer column a whole width below 2**63 a float holds as written is exact whatever
    its size (`31536000000000000`, a year in nanoseconds: the integer path); elsewhere
    its edges must be held by a float (held_width)."""
    width = float(granularity)
    if dtype.is_integer() and _integer_path(width) and Decimal(width) == Decimal(granularity):
        return True
    return held_width(granularity)


def held_width(granularity: str) -> bool:
    """Whether a positive bucket width (a decimal number) is one whose edges a float
    holds: at most 15 decimals (`_MOST_PLACES`) and at most 2**53 units of its last
    decimal (`1e-300` has 300 decimals, `1e20` 10**20 units; trailing zeros count for
    nothing: `0.1000000000000000` is 0.1). Planning refuses any other width where the
    action would read it as a float (width_fits)."""
    exact = Decimal(granularity)
    places = _places(exact)
    return places <= _MOST_PLACES and exact * 10**places <= _EXACT_FLOAT_INTEGERS


def _places(exact: Decimal) -> int:
    """The decimals a width is written with, trailing zeros dropped (`0.25`: 2; `1e20`:
    0; `0.10`: 1; `9007199254740992.0`: 0)."""
    return max(0, -int(exact.normalize().as_tuple().exponent))


def _generalized_or_null(value: pl.Expr, dtype: pl.DataType, granularity: str) -> pl.Expr:
    whole_decimal = isinstance(dtype, pl.Decimal) and dtype.scale == 0
    if granularity in DATE_GRANULARITIES and (
        dtype.is_integer() or dtype.is_float() or whole_decimal
    ):
        return _yyyymmdd(value, dtype, granularity)
    return pl.lit(None, dtype=dtype)


def _yyyymmdd(value: pl.Expr, dtype: pl.DataType, granularity: str) -> pl.Expr:
    """A number laid out as yyyymmdd (a birth date from a CSV or pandas: 19900506, also
    19900506.0) as its year (1990), year and month (199005) or whole date, in its own
    type; a whole number 1800-2099 is a year already (kept at year granularity); any
    other number (a timestamp, a fraction, out of range) becomes null."""
    whole = value.cast(pl.Int64, strict=False)
    if dtype.is_float():
        whole = pl.when(value.is_finite() & (value == value.floor())).then(whole)
    year, month, day = whole // 10_000, whole // 100 % 100, whole % 100
    laid_out = year.is_between(1800, 2099) & month.is_between(1, 12) & day.is_between(1, 31)
    kept = {"year": year, "month": whole // 100}.get(granularity, whole)
    if granularity == "year":
        # A year of birth already (`dob_year` 1990) is its own generalisation.
        kept = pl.when(whole.is_between(1800, 2099)).then(whole).otherwise(kept)
        laid_out = laid_out | whole.is_between(1800, 2099)
    return pl.when(laid_out).then(kept).otherwise(None).cast(dtype)


def generalized_type(dtype: pl.DataType, granularity: str) -> bool:
    """Whether `generalize` with this granularity applies to a value of `dtype`."""
    if granularity in DATE_GRANULARITIES:
        return _is_date(dtype) or dtype == pl.String
    return dtype.is_numeric() or dtype == pl.String


def _is_date(dtype: pl.DataType) -> bool:
    return dtype == pl.Date or isinstance(dtype, pl.Datetime)
