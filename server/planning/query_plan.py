"""The query of a request (columns, a SQL `where` expression, a time range and an id
list) compiled once into the pipeline's query stage and checked against the source
schema: every bad field is rejected here, naming it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import polars as pl

from sluice.server.errors import InvalidArgument, quoted, quoted_list
from sluice.server.pipeline.ascii_case import ascii_lower, ascii_lower_expr, ascii_strip_expr
from sluice.server.pipeline.polars_panics import POLARS_FAILURES
from sluice.server.pipeline.query import CompiledQuery
from sluice.server.pipeline.source import ROW_INDEX
from sluice.server.planning.spec import QuerySpec

_MAX_IDS = 100_000
# A subquery would let a `where` reach beyond the row it filters.
_SUBQUERY = re.compile(r"\bselect\b", re.IGNORECASE)
_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
# What a `where` may hold before it reaches Polars' SQL parser, whose recursion has no
# limit of its own: 6,000 `id > 1` terms joined by AND overflow the thread's stack and
# kill the daemon. Far above what a hand-written filter needs, far below the crash.
MAX_WHERE_CHARS = 16_384
MAX_WHERE_OPERATORS = 256
MAX_WHERE_NESTING = 32
# Literals and quoted identifiers (an unterminated one runs to the end) hide operators.
_QUOTED = re.compile(r"'(?:[^']|'')*'?|\"(?:[^\"]|\"\")*\"?")
_OPERATOR = re.compile(
    r"\b(?:and|or|not|is|in|like|ilike|between|case|when|then|else)\b"
    r"|<=|>=|<>|!=|==|\|\||[-+*/%<>=^&|~]",
    re.IGNORECASE,
)


def compile_query(query: QuerySpec, schema: pl.Schema) -> CompiledQuery:
    """Validate the query against the source schema; raise InvalidArgument naming the field."""
    names = [n for n in schema.names() if n != ROW_INDEX]
    columns = _check_columns(query.columns, names)
    predicates: list[pl.Expr] = []
    if query.where.strip():
        predicates.append(_compile_where(query.where, schema, names))
    if query.time_range is not None:
        predicates.append(_compile_time_range(query, schema))
    if query.ids:
        predicates.append(_compile_ids(query, schema))
    predicate: pl.Expr | None = None
    if predicates:
        predicate = pl.all_horizontal(predicates) if len(predicates) > 1 else predicates[0]
    return CompiledQuery(columns=columns, predicate=predicate, every_column=not query.columns)


def _check_columns(requested: tuple[str, ...], names: list[str]) -> tuple[str, ...]:
    if not requested:
        return tuple(names)
    unknown = [c for c in requested if c not in names]
    if unknown:
        raise InvalidArgument("spec.query.columns", f"unknown column(s) {quoted_list(unknown)}")
    if len(set(requested)) != len(requested):
        raise InvalidArgument("spec.query.columns", "lists a column twice")
    return requested


def check_where_size(where: str) -> None:
    """Reject a `where` too big for the parser (length, operators, nesting) unparsed."""
    field = "spec.query.where"
    if len(where) > MAX_WHERE_CHARS:
        raise InvalidArgument(field, f"is longer than {MAX_WHERE_CHARS} characters")
    bare = _QUOTED.sub("''", where)
    if len(_OPERATOR.findall(bare)) > MAX_WHERE_OPERATORS:
        raise InvalidArgument(
            field, f"has more than {MAX_WHERE_OPERATORS} operators; split the filter or use ids"
        )
    depth = deepest = 0
    for char in bare:
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth -= 1
    if deepest > MAX_WHERE_NESTING:
        raise InvalidArgument(field, f"nests parentheses deeper than {MAX_WHERE_NESTING}")


def _compile_where(where: str, schema: pl.Schema, names: list[str]) -> pl.Expr:
    field = "spec.query.where"
    check_where_size(where)
    if _SUBQUERY.search(_STRING_LITERAL.sub("''", where)):
        raise InvalidArgument(field, "subqueries are not allowed; give an expression")
    bare_date = _BARE_DATE.search(_without_quoted(where))
    try:
        expr = pl.sql_expr(where)
    except POLARS_FAILURES as exc:  # Polars raises several types for a bad parse
        if bare_date:  # `ts > 2024-01-01 10:00` fails at the time's colon
            raise InvalidArgument(field, _temporal_hint(where, None, schema)) from None
        raise InvalidArgument(field, _first_line(exc)) from None
    if bare_date:
        # Valid SQL, wrong meaning: the date is subtraction, and comparing a datetime
        # with the number 2022 would silently select (nearly) every row.
        raise InvalidArgument(field, _temporal_hint(where, expr, schema))
    unknown = sorted(set(expr.meta.root_names()) - set(names))
    if unknown:
        raise InvalidArgument(field, f"unknown column(s) {quoted_list(unknown)}")
    try:
        _check_on_empty_frame(expr, schema, field)
    except InvalidArgument as exc:
        if _TEMPORAL_MISMATCH.search(str(exc)):
            raise InvalidArgument(field, _temporal_hint(where, expr, schema)) from None
        raise
    return expr


# Dates and times the way people type them, quoted or not. Bounded, so a hint echoes
# at most a short literal of the request.
_DATE_TEXT = r"\d{4}-\d{1,2}-\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?"
_BARE_DATE = re.compile(rf"(?<![\w.])({_DATE_TEXT})(?![\w.:])")
_QUOTED_DATE = re.compile(rf"'({_DATE_TEXT}[^']{{0,12}})'")
_QUOTED_IDENTIFIER = re.compile(r'"(?:[^"]|"")*"')
# What Polars says when a temporal column meets a string, or a literal of another zone.
_TEMPORAL_MISMATCH = re.compile(
    r"date/datetime/time"
    r"|comparison between .*dtype: (?:Datetime|Date)"
    r"|cannot check for (?:Date|Datetime)"
)


def _without_quoted(where: str) -> str:
    return _QUOTED_IDENTIFIER.sub('""', _STRING_LITERAL.sub("''", where))


def _temporal_hint(where: str, expr: pl.Expr | None, schema: pl.Schema) -> str:
    """How to write the date/time the caller meant: a typed literal matching each
    temporal column the expression uses (Polars' own message speaks of Python types)."""
    found = _QUOTED_DATE.search(where) or _BARE_DATE.search(_without_quoted(where))
    value = found.group(1) if found else "2024-01-01"
    day = value[:10]
    if expr is not None:
        used = set(expr.meta.root_names())
    else:
        bare = _without_quoted(where)
        used = {n for n in schema.names() if re.search(rf"(?<!\w){re.escape(n)}(?!\w)", bare)}
    examples = []
    for name in sorted(used & set(schema.names())):
        dtype = schema[name]
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
            examples.append(f"{name} > TIMESTAMP '{value}'")
        elif isinstance(dtype, pl.Datetime) and dtype.time_zone in ("UTC", "Etc/UTC"):
            examples.append(f"{name} > TIMESTAMPTZ '{value}'")
        elif isinstance(dtype, pl.Datetime):
            examples.append(f"CAST({name} AS TIMESTAMPTZ) > TIMESTAMPTZ '{value}'")
        elif isinstance(dtype, pl.Date):
            examples.append(f"{name} >= DATE '{day}'")
    if not examples:
        examples = [f"TIMESTAMP '{value}'", f"TIMESTAMPTZ '{value}'", f"DATE '{day}'"]
    return (
        "write dates and times as typed literals, e.g. "
        + ", ".join(examples)
        + f" ('{day}' in quotes is text, and {day} without them is arithmetic); "
        "or filter with the time range (--time-column, --since, --until)"
    )


def _check_on_empty_frame(expr: pl.Expr, schema: pl.Schema, field: str) -> None:
    """Type-check a predicate by running it on zero rows: no I/O, but real Polars semantics."""
    try:
        pl.DataFrame(schema=schema).lazy().filter(expr).collect()
    except POLARS_FAILURES as exc:  # any failure means the expression is unusable
        raise InvalidArgument(field, _first_line(exc)) from None


def _compile_time_range(query: QuerySpec, schema: pl.Schema) -> pl.Expr:
    time_range = query.time_range
    assert time_range is not None
    field = "spec.query.time_range"
    if time_range.column not in schema or time_range.column == ROW_INDEX:
        raise InvalidArgument(f"{field}.column", f"unknown column {quoted(time_range.column)}")
    if time_range.since is None and time_range.until is None:
        raise InvalidArgument(field, "give since, until or both")
    if time_range.since and time_range.until and time_range.since >= time_range.until:
        raise InvalidArgument(field, "since must be before until")
    dtype = schema[time_range.column]
    column = pl.col(time_range.column)
    parts: list[pl.Expr] = []
    for bound, inclusive in ((time_range.since, True), (time_range.until, False)):
        if bound is None:
            continue
        literal = _bound_literal(
            bound, dtype, f"{field}.column", time_range.column, exclusive_end=not inclusive
        )
        parts.append(column >= literal if inclusive else column < literal)
    return pl.all_horizontal(parts) if len(parts) > 1 else parts[0]


def time_range_bounds(query: QuerySpec, schema: pl.Schema) -> tuple[tuple[str, str, object], ...]:
    """The time range as (column, ">=" or "<", value) for a database to evaluate: the same
    bounds the pipeline's predicate uses (compile_query checked the range already)."""
    time_range = query.time_range
    if time_range is None:
        return ()
    dtype = schema[time_range.column]
    bounds: list[tuple[str, str, object]] = []
    for bound, operator in ((time_range.since, ">="), (time_range.until, "<")):
        if bound is None:
            continue
        literal = _bound_literal(
            bound,
            dtype,
            "spec.query.time_range.column",
            time_range.column,
            exclusive_end=operator == "<",
        )
        bounds.append((time_range.column, operator, pl.select(literal).item()))
    return tuple(bounds)


def _bound_literal(
    bound: datetime, dtype: pl.DataType, field: str, column: str, *, exclusive_end: bool = False
) -> pl.Expr:
    utc = bound.astimezone(UTC) if bound.tzinfo else bound.replace(tzinfo=UTC)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            # Naive timestamps are taken to be UTC, the convention Sluice documents.
            return pl.lit(utc.replace(tzinfo=None)).cast(pl.Datetime(dtype.time_unit))
        return pl.lit(utc).dt.convert_time_zone(dtype.time_zone).cast(dtype)
    if isinstance(dtype, pl.Date):
        # A day is exported when any part of it is in [since, until): `since` rounds down
        # to its day, a mid-day `until` up to the next one (else that day would be lost).
        day = utc.date()
        if exclusive_end and utc.time() != time(0):
            day += timedelta(days=1)
        return pl.lit(day)
    raise InvalidArgument(
        field, f"column {quoted(column)} is {dtype}, not a Date or Datetime column"
    )


def _compile_ids(query: QuerySpec, schema: pl.Schema) -> pl.Expr:
    field = "spec.query.ids"
    if len(query.ids) > _MAX_IDS:
        raise InvalidArgument(field, f"at most {_MAX_IDS} ids per export")
    column = query.id_column or "id"
    if column not in schema or column == ROW_INDEX:
        raise InvalidArgument("spec.query.id_column", f"unknown column {quoted(column)}")
    dtype = schema[column]
    try:
        values = pl.Series(query.ids, dtype=pl.String).cast(dtype, strict=True)
    except POLARS_FAILURES:  # Polars' cast error types vary by dtype
        raise InvalidArgument(
            field, f"ids must be values of column {quoted(column)} ({dtype})"
        ) from None
    if ignores_case(query, dtype):
        lowered = pl.Series([ascii_lower(i) for i in query.ids], dtype=pl.String)
        return ascii_lower_expr(ascii_strip_expr(pl.col(column))).is_in(lowered.implode())
    return pl.col(column).is_in(values.implode())


def ignores_case(query: QuerySpec, dtype: pl.DataType) -> bool:
    """Whether the ids match in either case (and without spaces around the column's
    value, as the ids are stripped): asked for, on a text column."""
    return query.ids_ignore_case and dtype == pl.String


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, pl.exceptions.PanicException):
        # Its text is Rust's ("index out of bounds: ..."), no help to the caller.
        return "Polars fails on this expression (it panicked); write it another way"
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
