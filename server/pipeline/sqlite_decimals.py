"""SQLite values of a DECIMAL(p,s) column as Decimal(p,s): SQLite keeps them as floats,
integers or text of any scale, so each is brought to the declared scale on its own (a
type inferred from the whole batch once let one long-scaled value turn another into
NULL). A value that would be rounded, or has more digits than the precision, does not
fit; but for a float that differs from its rounded value by no more than its last bits
(_float_artefact)."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

import polars as pl

#: Largest precision of a Polars decimal (decimal128), the one of Decimal(None, s).
_LARGEST_PRECISION = 38


def fitted_decimals(values: list[Any], dtype: pl.Decimal) -> tuple[list[Decimal | None], list[int]]:
    """The values at `dtype`'s scale (None for each that does not fit, and None), and the
    indices of those that do not fit, ascending."""
    precision = dtype.precision or _LARGEST_PRECISION
    step = Decimal((0, (1,), -dtype.scale))
    fitted: list[Decimal | None] = []
    unfit: list[int] = []
    with localcontext() as context:
        # quantize refuses (InvalidOperation) a result of more digits than this.
        context.prec = precision
        for index, value in enumerate(values):
            if value is None:
                fitted.append(None)
                continue
            decimal = _fitted(value, step, context)
            fitted.append(decimal)
            if decimal is None:
                unfit.append(index)
    return fitted, unfit


def _fitted(value: Any, step: Decimal, context: Any) -> Decimal | None:
    try:
        exact = Decimal(str(value))
        rounded = exact.quantize(step, context=context)
    except (InvalidOperation, ValueError, TypeError):
        return None  # not a number, infinite, NaN or too many digits
    if rounded == exact or _float_artefact(value, rounded):
        return rounded
    return None


def _float_artefact(stored: Any, rounded: Decimal) -> bool:
    """Whether `rounded` is the value SQLite meant by the float `stored`: SQLite keeps a
    DECIMAL(p,s) column's arithmetic as binary floats (0.1+0.2 is 0.30000000000000004,
    1.1*3 is 3.3000000000000003), within two units of the float's last place of the
    decimal of s places (9.999 for 10.00 is not)."""
    if type(stored) is not float or not math.isfinite(stored):
        return False
    return abs(float(rounded) - stored) <= 2 * math.ulp(stored)
