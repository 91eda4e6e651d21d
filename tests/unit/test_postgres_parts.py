"""The pure parts of PostgreSQL sources: URIs, profiles, type mapping, SQL text."""

from __future__ import annotations

import polars as pl
import pytest
from pydantic import ValidationError

from sluice.server.pipeline.postgres_source import (
    Filters,
    PostgresTarget,
    late_column,
    relation,
    select_sql,
)
from sluice.server.pipeline.postgres_types import column_type, numeric_modifier
from sluice.server.settings import Settings
from sluice.server.source_profiles import PostgresProfile
from sluice.sinks.locations import LocationRefused, classify, classify_source, postgres_address


def test_postgres_uris_name_server_and_database_only() -> None:
    location = classify_source("postgres://DB.example/app")
    assert location.kind == "postgresql"
    assert location.target == "postgresql://db.example:5432/app"
    address = postgres_address(location.target)
    assert (address.host, address.port, address.database) == ("db.example", 5432, "app")
    refused = {
        "postgresql://u:hunter2@h/app": "password_ref",
        "postgresql://u@h/app": "user",
        "postgresql://h/app?sslmode=disable": "connection parameters",
        "postgresql://h:99999/app": "port",
        "postgresql://h/": "HOST:PORT/DBNAME",
        "postgresql:///app": "HOST:PORT/DBNAME",
    }
    for uri, named in refused.items():
        with pytest.raises(LocationRefused) as caught:
            classify_source(uri)
        assert named in str(caught.value) and "hunter2" not in str(caught.value)
    with pytest.raises(LocationRefused, match="only be a source"):
        classify("postgresql://h:5432/app")


def test_profiles_pin_servers_and_hold_references_only() -> None:
    profile = PostgresProfile(hosts=("DB:5432",), user="r", databases=("app",))
    assert profile.allows("db", 5432, "app")
    assert not profile.allows("db", 5433, "app") and not profile.allows("db", 5432, "other")
    for bad in ({"hosts": ()}, {"hosts": ("db",)}, {"password_ref": "hunter2"}):
        with pytest.raises(ValidationError) as caught:
            PostgresProfile(**{"hosts": ("db:1",), "user": "r", **bad})  # type: ignore[arg-type]
        assert "hunter2" not in str(caught.value)
    settings = Settings(source_profiles={"p": {"hosts": ["h:1"], "user": "r"}})
    assert settings.source_profiles["p"].kind == "postgresql"


@pytest.mark.parametrize(
    ("typname", "element", "typmod", "dtype", "as_text"),
    [
        ("numeric", None, (12 << 16 | 3) + 4, pl.Decimal(12, 3), False),
        ("numeric", None, -1, pl.String(), True),
        ("numeric", None, (50 << 16) + 4, pl.String(), True),
        ("numeric", None, (2 << 16 | 5) + 4, pl.Decimal(5, 5), False),  # scale > precision
        ("int2", None, -1, pl.Int16(), False),
        ("timestamptz", None, -1, pl.Datetime("us", "UTC"), False),
        ("uuid", None, -1, pl.String(), True),
        ("jsonb", None, -1, pl.String(), True),
        ("interval", None, -1, pl.String(), True),
        ("_int4", "int4", -1, pl.List(pl.Int32()), False),
        ("mood", None, -1, pl.String(), True),
    ],
)
def test_type_mapping(
    typname: str, element: str | None, typmod: int, dtype: pl.DataType, as_text: bool
) -> None:
    reading = column_type(typname, element, typmod)
    assert reading.dtype == dtype
    assert reading.as_text == as_text


def test_uuid_arrays_are_read_as_text_arrays() -> None:
    reading = column_type("_uuid", "uuid", -1)
    assert reading.dtype == pl.List(pl.String())
    assert reading.select('"ids"') == '"ids"::text[] AS "ids"'


def test_numeric_modifier_negative_scale() -> None:
    assert numeric_modifier(-1) == (None, 0)
    assert numeric_modifier(((5 << 16) | (0x800 - 2)) + 4) == (5, -2)


def test_select_pushes_filters_and_escapes_percent() -> None:
    profile = PostgresProfile(hosts=("h:1",), user="r")
    target = PostgresTarget(
        postgres_address("postgresql://h:1/app"),
        "p",
        profile,
        columns=(("id", column_type("int8", None, -1)), ("u", column_type("uuid", None, -1))),
    )
    from_item = relation("", "", "SELECT * FROM t WHERE name LIKE 'a%'")
    sql, params = select_sql(
        target, from_item, ["id", "u"], ["id"], Filters("u", ("x",), (("id", ">=", 3),)), 5
    )
    assert "LIKE 'a%%'" in sql
    assert '"u"::text = ANY(%s::text[])' in sql and '"id" >= %s' in sql
    # The source column (its own type), not the output column (text for keys read as text).
    assert sql.endswith('ORDER BY sluice_source."id" OFFSET %s')
    assert params == [["x"], 3, 5]


def test_late_rows_need_a_real_snapshot() -> None:
    assert "pg_visible_in_snapshot" in late_column("10:12:10,11").expression
    with pytest.raises(Exception, match="not a PostgreSQL snapshot"):
        late_column("10:12:'; DROP TABLE t; --")
    with pytest.raises(Exception, match="not a PostgreSQL snapshot"):
        late_column("10:12:10,11\n")  # matched whole, not up to a line break


def test_where_terms_pushed_down_only_where_both_agree() -> None:
    from decimal import Decimal

    from sluice.server.planning.where_pushdown import pushable_terms

    schema = pl.Schema(
        {"id": pl.Int64(), "name": pl.String(), "price": pl.Decimal(10, 2), "f": pl.Float64()}
    )
    assert pushable_terms("id = 3 AND name = 'a''b AND c' AND price >= 1.50", schema) == (
        ("id", "=", 3),
        ("name", "=", "a'b AND c"),
        ("price", ">=", Decimal("1.50")),
    )
    # Text ordering depends on collation, floats on NaN rules: those stay in the pipeline.
    assert pushable_terms("name < 'm' AND f > 1 AND id != 2", schema) == (("id", "<>", 2),)
    for kept in ("id = 3 OR id = 4", "(id = 3)", "NOT id = 3", "id = 3.5", "ghost = 1"):
        assert pushable_terms(kept, schema) == ()
    assert pushable_terms("\"id\" > -5 AND name LIKE 'a%'", schema) == (("id", ">", -5),)
    assert pushable_terms("name = 'x'", schema, frozenset({"name"})) == ()


def test_a_server_error_mid_stream_is_its_cause_not_a_lost_connection() -> None:
    """The driver's stream errors are OSErrors carrying libpq's text: the server's own
    ERROR with a cause not told apart (division by zero) fails naming it, while a
    closed socket is a lost connection (retried)."""
    from sluice.server.errors import FailedPrecondition, Unavailable
    from sluice.server.pipeline.postgres_source import statement_error

    target = PostgresTarget(
        postgres_address("postgresql://h:1/app"), "p", PostgresProfile(hosts=("h:1",), user="u")
    )
    import pyarrow as pa

    fatal = "[libpq] Execution error [PGRES_FATAL_ERROR]: "
    cases: list[tuple[Exception, type[Exception], str]] = [
        (OSError(f"{fatal}ERROR:  division by zero\n"), FailedPrecondition, "division by zero"),
        (OSError("[libpq] ERROR: server closed the connection unexpectedly"), Unavailable, ""),
        (OSError("the driver's read failed: no cause given"), Unavailable, ""),
        # A standby cancelling the read for its replay: a new snapshot may pass (retried).
        (
            OSError(f"{fatal}ERROR:  canceling statement due to conflict with recovery"),
            Unavailable,
            "conflict with recovery",
        ),
        # Cancelled by someone (pg_cancel_backend): not the profile's statement_timeout.
        (
            OSError("[libpq] Execution error: ERROR:  canceling statement due to user request"),
            FailedPrecondition,
            "user request",
        ),
        # ADBC 1.11-1.12 (and 1.13 for some SQLSTATE classes) raise ArrowInvalid instead.
        (
            pa.ArrowInvalid(f"{fatal}FATAL:  terminating connection due to administrator command"),
            Unavailable,
            "",
        ),
    ]
    for exc, expected, named in cases:
        error = statement_error(target, exc, "spec.source")
        assert isinstance(error, expected), (exc, error)
        assert named in str(error) and "statement_timeout" not in str(error), error


def test_control_characters_are_refused_after_percent_decoding() -> None:
    """libpq reads its connection string up to a NUL: `app%00` as a database name
    dropped every parameter after it (user, password, read-only, timeout, TLS)."""
    for uri in (
        "postgresql://h:5432/app%00",
        "postgresql://h:5432/app%0Ax",
        "postgresql://h:5432/a%7Fb",
        "sqlite:///srv/jobs%00.db",
        "duckdb:///srv/a%09b.duckdb",
    ):
        with pytest.raises(LocationRefused) as caught:
            classify_source(uri)
        assert "control character" in str(caught.value) and "app" not in str(caught.value), uri
    assert classify_source("postgresql://h:5432/my%20app").target == "postgresql://h:5432/my app"


def test_a_nul_in_any_connection_setting_is_refused_before_libpq() -> None:
    """A value with a NUL cuts libpq's connection string short; the password (a secret
    file may hold anything) is not echoed."""
    from sluice.server.errors import FailedPrecondition
    from sluice.server.pipeline.postgres_source import connection_params

    for profile in (
        PostgresProfile(hosts=("h:1",), user="u\x00x"),
        PostgresProfile(hosts=("h:1",), user="u", application_name="a\x00b"),
    ):
        target = PostgresTarget(postgres_address("postgresql://h:1/app"), "p", profile)
        with pytest.raises(FailedPrecondition, match="NUL"):
            connection_params(target)


def test_comments_and_text_inequalities_are_not_pushed_down() -> None:
    """The pipeline reads `--` and `/* */` as comments; `<>` on text depends on the
    column's collation and type (char(n) padding), where `=` only lets more rows in."""
    from sluice.server.planning.where_pushdown import pushable_terms

    schema = pl.Schema({"id": pl.Int64(), "name": pl.String()})
    for where in (
        "id = 1 -- AND name = 'x'",
        "id = 1 AND name = 'x' -- a note",
        "id = 1 /* AND name = 'x' */",
        "id = 1--1",
    ):
        assert pushable_terms(where, schema) == (), where
    assert pushable_terms("name <> 'x' AND name != 'y' AND id <> 2", schema) == (("id", "<>", 2),)
    assert pushable_terms("name = 'a -- b' AND id = 1", schema) == (
        ("name", "=", "a -- b"),
        ("id", "=", 1),
    )


def test_a_server_error_is_classified_by_how_it_starts_and_never_quotes_a_value() -> None:
    """The value a data error quotes is a row's (personal data, perhaps); words in it
    ("connection", "permission denied") say nothing about the cause."""
    from sluice.server.errors import FailedPrecondition, PermissionDenied, Unavailable
    from sluice.server.pipeline.postgres_source import statement_error

    target = PostgresTarget(
        postgres_address("postgresql://h:1/app"), "p", PostgresProfile(hosts=("h:1",), user="u")
    )
    fatal = "[libpq] Execution error [PGRES_FATAL_ERROR]: ERROR:  "
    cases: list[tuple[str, type[Exception], str, str]] = [
        ('invalid input syntax for type integer: "no connection"', FailedPrecondition,
         "invalid input syntax for type integer", "no connection"),
        ('invalid input syntax for type bigint: "permission denied"', FailedPrecondition,
         "for type bigint", "permission denied"),
        ('value "jane@example.com" is out of range for type integer', FailedPrecondition,
         "is out of range for type integer", "jane"),
        ("permission denied for table payroll", PermissionDenied, "payroll", "\x00"),
        ("server closed the connection unexpectedly", Unavailable, "connection was lost", "\x00"),
    ]  # fmt: skip
    for text, expected, named, hidden in cases:
        error = statement_error(target, OSError(fatal + text), "spec.source")
        assert isinstance(error, expected), (text, error)
        assert named in str(error) and hidden not in str(error), error
