"""PostgreSQL sources: postgresql://HOST:PORT/DBNAME with a source profile, read-only, in
one snapshot, in key order, streamed in bounded memory.

The schema comes from the database at planning time (the result description of the
table or query, and the catalog for type names and the primary key), so unknown columns
and type errors are reported at CreateExport. Each run reads in one `REPEATABLE READ
READ ONLY` transaction: rows committed while it runs are all in or all out, and the
snapshot (pg_current_snapshot) and the database time (now(), the transaction's start)
are recorded for the manifest. Planning uses psycopg; rows are read by ADBC's driver
(see postgres_reading).

Every connection sets statement_timeout from the profile, TimeZone UTC (timestamptz
values arrive in UTC) and IntervalStyle iso_8601 (intervals read as ISO 8601 text).
Errors name the source (HOST:PORT/DBNAME, or a named source's configured name: its
address is hidden from callers and only logged) and the cause, never the password nor a
row's value (PostgreSQL's data errors quote the value that failed).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import polars as pl

from sluice.format.manifest import SourceSnapshot
from sluice.secrets import SecretRef, SecretUnavailable
from sluice.server.errors import (
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    SluiceError,
    Unavailable,
    quoted,
)
from sluice.server.pipeline.ascii_case import ascii_strip_sql
from sluice.server.pipeline.bad_rows import SourceDataError
from sluice.server.pipeline.database_keys import nulls_last_after_term
from sluice.server.pipeline.postgres_types import ColumnType, array_shapes, column_type
from sluice.server.pipeline.statement_cancels import ambient
from sluice.server.postgres_liveness import DEAD_PEER_PARAMS
from sluice.server.source_profiles import PostgresProfile
from sluice.sinks.errors import StorageError
from sluice.sinks.locations import PostgresAddress
from sluice.sinks.retry import RetryPolicy, retry_call

_SELECT = re.compile(r"^\s*\(*\s*(select|with|values|table)\b", re.IGNORECASE)
T = TypeVar("T")
#: Hidden column of an incremental read: whether a row was written by a transaction the
#: parent export's snapshot did not see (it committed later, or was still in progress).
LATE_COLUMN = "__sluice_late"
_SNAPSHOT_TEXT = re.compile(r"^\d{1,20}:\d{1,20}:(\d{1,20}(,\d{1,20})*)?$")
_XID_WRAP = 4294967296
#: A refused or unreachable server is tried again (a restart, a failover) before the
#: export fails UNAVAILABLE.
CONNECT_RETRIES = RetryPolicy(max_attempts=4, base_delay=0.25, max_delay=2.0)
#: A quick look (ListSources reading each named source's schema, one after another,
#: within the caller's deadline) tries a server once, waiting at most this many seconds:
#: a server that does not answer is listed as unreachable and the others are listed.
LOOK_CONNECT_RETRIES = RetryPolicy(max_attempts=1)
LOOK_CONNECT_TIMEOUT = 3.0
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PostgresTarget:
    """A PostgreSQL database and the profile it is read with (references, not secrets)."""

    address: PostgresAddress
    profile_name: str
    profile: PostgresProfile
    #: Column readings by name, settled at planning (the types the schema promised).
    columns: tuple[tuple[str, ColumnType], ...] = ()
    #: Connections a table is read with, in one snapshot (postgres_read_connections).
    read_connections: int = 1
    #: How a connection is tried again when the server is unreachable.
    connect_retries: RetryPolicy = CONNECT_RETRIES
    #: The snapshots runs of this plan read in (filled while reading; for the manifest).
    snapshots: list[SourceSnapshot] = field(default_factory=list, compare=False, hash=False)
    #: The named source (`[sources.NAME]`) this is, or "": its address is hidden from
    #: callers (README "Named sources"), so errors name it by this name instead.
    source_name: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, hash=False)

    @property
    def name(self) -> str:
        """How the daemon's log names the source: its address, never credentials."""
        return str(self.address)

    @property
    def label(self) -> str:
        """How errors name the source to callers: a named source by its name, any other
        by its address; never credentials."""
        if self.source_name:
            return f"named source {quoted(self.source_name)}"
        return f"PostgreSQL source {self.address}"

    def shown(self, cause: str) -> str:
        """` (cause)` for an error's caller, or "" for a named source, whose connection
        failures quote its host, database or role (the log keeps them, for the operator)."""
        if not self.source_name:
            return f" ({cause})"
        _log.warning("%s (%s): %s", self.label, self.address, cause)
        return ""

    def column(self, name: str) -> ColumnType:
        return dict(self.columns)[name]

    def noted(self, snapshot: SourceSnapshot) -> None:
        with self._lock:
            self.snapshots.append(snapshot)


def check_profile(address: PostgresAddress, name: str, profile: PostgresProfile) -> None:
    """The profile may be used for this server and database (else INVALID_ARGUMENT)."""
    if not profile.allows(address.host, address.port, address.database):
        raise InvalidArgument(
            "spec.source.profile",
            f"source profile {name[:64]!r} may not be used for {address} (see its hosts "
            "and databases)",
        )


def check_query(query: str) -> None:
    """One read-only SELECT, checked by PostgreSQL's own parser (pglast: libpg_query)
    before anything reaches the database: a second statement (`SELECT 1; DELETE ...`),
    a data-modifying WITH, SELECT INTO and SELECT ... FOR UPDATE are refused. It also
    runs inside a read-only transaction, wrapped as a subquery of one COPY statement."""
    if not _SELECT.match(query):
        raise InvalidArgument("spec.source.query", "must be one SELECT (or WITH ... SELECT)")
    from pglast import parser  # the server extra, imported where used

    try:
        tree = json.loads(parser.parse_sql_json(query))
    except parser.ParseError as exc:
        raise InvalidArgument(
            "spec.source.query", f"is not valid PostgreSQL SQL: {str(exc)[:200]}"
        ) from None
    statements = tree.get("stmts", [])
    if len(statements) != 1:
        raise InvalidArgument("spec.source.query", f"must be one statement, not {len(statements)}")
    select = statements[0].get("stmt", {}).get("SelectStmt")
    if select is None:
        raise InvalidArgument("spec.source.query", "must be one SELECT (or WITH ... SELECT)")
    if "intoClause" in select:
        raise InvalidArgument("spec.source.query", "SELECT INTO writes a table; only reads")
    nodes = set(_keys(tree))
    if nodes & _WRITES:
        raise InvalidArgument(
            "spec.source.query", "must only read (it contains INSERT, UPDATE, DELETE or MERGE)"
        )
    if "lockingClause" in nodes:
        raise InvalidArgument("spec.source.query", "must not lock rows (FOR UPDATE/SHARE)")


#: Parse tree nodes of statements that write.
_WRITES = frozenset({"InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"})


def _keys(node: object) -> Iterator[str]:
    """Every key of a JSON parse tree, depth first."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield from item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def sql_name(identifier: str) -> str:
    """A quoted column name for SQL that is sent with parameters (psycopg, `inline`):
    a "%" in the name is doubled, so it can never read as a placeholder and take a
    request's value into the SQL text."""
    return quote(identifier).replace("%", "%%")


def connection_params(target: PostgresTarget, *, snapshot_reads: bool = False) -> dict[str, Any]:
    """libpq connection parameters (the password resolved from its reference: never log
    them). `snapshot_reads`: every transaction is REPEATABLE READ (one snapshot)."""
    profile = target.profile
    options = "-c TimeZone=UTC -c IntervalStyle=iso_8601 -c default_transaction_read_only=on"
    if snapshot_reads:
        options += " -c default_transaction_isolation=repeatable\\ read"
    if profile.statement_timeout:
        options += f" -c statement_timeout={int(profile.statement_timeout * 1000)}"
    params: dict[str, Any] = {
        "host": target.address.host,
        "port": target.address.port,
        "dbname": target.address.database,
        "user": profile.user,
        "application_name": profile.application_name,
        "connect_timeout": max(1, int(profile.connect_timeout)),
        "options": options,
        **DEAD_PEER_PARAMS,
    }
    password = _password(target)
    if password:
        params["password"] = password
    if profile.sslmode:
        params["sslmode"] = profile.sslmode
    if profile.sslrootcert is not None:
        params["sslrootcert"] = str(profile.sslrootcert)
    _check_uncut(target, params)
    return params


def _check_uncut(target: PostgresTarget, params: dict[str, Any]) -> None:
    """libpq reads its connection string as a C string: a NUL in one value would end it
    there, and every parameter after it (the password, read-only options, timeout, TLS)
    would silently not apply. Addresses with one are refused before (sinks.locations);
    this holds for the profile's values and the password too. Values are not echoed."""
    for key, value in params.items():
        if "\x00" in str(value):
            raise FailedPrecondition(
                f"source profile {quoted(target.profile_name, 64)}: its {key} holds a NUL "
                "character, which would cut the connection settings short"
            )


def open_connection(target: PostgresTarget, opener: Callable[[], T], errors: type[Exception]) -> T:
    """`opener()`, retried while the server is unreachable; its failure (the driver's
    `errors`) as a domain error naming the source and the cause."""

    def attempt() -> T:
        try:
            return opener()
        except errors as exc:
            error = connection_error(target, exc)
            raise _Retryable(error) if error.transient else error from None

    try:
        return retry_call(attempt, target.connect_retries, describe=f"connecting to {target.name}")
    except _Retryable as failed:
        raise failed.error from None


@contextmanager
def connect(target: PostgresTarget, *, field_name: str = "spec.source") -> Iterator[Any]:
    """A psycopg connection to the target (autocommit off: a transaction per use); its
    statements are cancelled by the context's cancels (statement_cancels.ambient)."""
    import psycopg  # the server extra, imported where used

    params = connection_params(target)
    con = open_connection(target, lambda: psycopg.connect(**params), psycopg.Error)
    try:
        with ambient().cancelling(con.cancel_safe):
            yield con
    except psycopg.Error as exc:
        raise statement_error(target, exc, field_name) from None
    finally:
        con.close()


class _Retryable(StorageError):
    """A connection failure that may pass (retried like a storage error)."""

    transient = True

    def __init__(self, error: SluiceError) -> None:
        super().__init__(error.message)
        self.error = error


def _password(target: PostgresTarget) -> str:
    reference = target.profile.password_ref
    if not reference:
        return ""
    try:
        return SecretRef(reference).resolve().decode()
    except SecretUnavailable as exc:
        raise FailedPrecondition(
            f"source profile {target.profile_name[:64]!r}: password_ref: {exc.message}"
        ) from None


def connection_error(target: PostgresTarget, exc: BaseException) -> SluiceError:
    """A failed connection: wrong credentials and refused TLS are configuration problems
    (FAILED_PRECONDITION); anything else (refused, unreachable, starting) may pass."""
    cause = _cause(exc)
    lowered = cause.lower()
    where = target.label
    if "authentication failed" in lowered or "password" in lowered or "no pg_hba" in lowered:
        return FailedPrecondition(
            f"{where}: the server refused the source profile's credentials{target.shown(cause)}"
        )
    if "does not exist" in lowered:  # database or role
        if target.shown(cause):
            return FailedPrecondition(f"{where}: {cause}")
        return FailedPrecondition(f"{where}: its database or role does not exist")
    if "refused" in lowered:
        # Not libpq's "Connection refused": clients read that as the daemon being down.
        cause = "nothing accepts connections at that address"
    elif "timeout" in lowered or "timed out" in lowered:
        cause = f"no answer within connect_timeout ({target.profile.connect_timeout:g}s)"
    elif target.source_name:
        target.shown(cause)
        cause = "the server log says why"
    return Unavailable(f"{where} is unreachable: {cause}")


def statement_error(target: PostgresTarget, exc: BaseException, field_name: str) -> SluiceError:
    """A failed statement, by SQLSTATE: permission (42501), timeout/cancel (57014), a
    lost connection (08xxx, or none: the socket closed), bad SQL (42xxx), bad data. A
    quoted value (after `: "`, as data errors quote it) and a name looked up and not
    found (`v::regclass`, `current_setting(v)`) are left out: either can be a row's
    value, possibly personal data."""
    report = _server_report(str(exc))
    sqlstate = getattr(exc, "sqlstate", None) or _sqlstate_of(str(exc), report)
    cause = _without_values(_cause(exc) if report is None else report, exc, sqlstate)
    where = target.label
    if sqlstate == "42501":
        return PermissionDenied(f"{where}: the source profile's role may not read: {cause}")
    if sqlstate == "57014":
        return FailedPrecondition(
            f"{where}: the statement ran past the source profile's statement_timeout "
            f"({target.profile.statement_timeout:g}s) and was cancelled"
        )
    # The server's own ERROR report with a cause not told apart above (division by
    # zero, a standby's conflict...) is that cause, not a lost connection: retrying
    # would meet it again.
    reported = not sqlstate and report is not None
    lost = not sqlstate and not reported and type(exc).__name__ in ("OperationalError", "OSError")
    if sqlstate.startswith(("08", "57P")) or lost:
        return Unavailable(f"{where}: the connection was lost ({cause})")
    if sqlstate == "40001":
        return Unavailable(f"{where}: the server cancelled the read ({cause})")
    if sqlstate.startswith("42"):
        return InvalidArgument(field_name, f"{where}: {cause}")
    if sqlstate.startswith("22"):
        return SourceDataError(f"{where}: a value cannot be read: {cause}")
    return FailedPrecondition(f"{where}: {cause}")


#: ADBC's stream errors are OSErrors with libpq's message only: the SQLSTATE of the few
#: causes told apart, from PostgreSQL's (untranslated, lc_messages C) wording. In the
#: server's ERROR report only how its message starts counts: the rest can quote a row's
#: value ("invalid input syntax for type integer: "no connection"").
_REPORTED = (
    ("canceling statement due to statement timeout", "57014"),
    # A standby cancelling a read that would hold back its replay: a new snapshot may pass.
    ("canceling statement due to conflict with recovery", "40001"),
    ("permission denied", "42501"),
    ("server closed the connection", "08006"),
    ("terminating connection", "57P01"),
    ("could not receive data", "08006"),
)
#: Without an ERROR report (libpq's own words, a FATAL), any mention of the connection.
_UNREPORTED = (
    ("server closed the connection", "08006"),
    ("terminating connection", "57P01"),
    ("could not receive data", "08006"),
    ("connection", "08006"),
)
#: The server's ERROR report in libpq's text: its primary message (the first line).
_REPORT = re.compile(r"\bERROR:\s+([^\n]*)")
#: A value a data error quotes inside its message (`value "..." is out of range`).
_QUOTED_VALUE = re.compile(r'\bvalue ".*"')
#: A name looked up and not found, quoted by the error: a query can take it from a row
#: (`v::regclass`, `nextval(v)`, `current_setting(v)`). Undefined object (type, role,
#: setting...), table, schema, function.
_LOOKUPS = frozenset({"42704", "42P01", "3F000", "42883"})
#: Their words, for ADBC's stream errors that carry no SQLSTATE.
_LOOKUP_WORDS = re.compile(r'" does not exist|^unrecognized configuration parameter "')
#: From the first quote to the last (a name may hold quotes: `relation "a"b" ...`).
_QUOTED_NAME = re.compile(r'\s*".*"')


def _server_report(message: str) -> str | None:
    """The primary message of the server's ERROR report in `message`, or None."""
    match = _REPORT.search(message)
    return match.group(1).strip()[:300] if match else None


def _sqlstate_of(message: str, report: str | None) -> str:
    if report is not None:
        lowered = report.lower()
        return next((state for words, state in _REPORTED if lowered.startswith(words)), "")
    lowered = message.lower()
    if "error:" not in lowered and "[libpq]" not in lowered:
        return ""
    return next((state for words, state in _UNREPORTED if words in lowered), "")


def _without_values(cause: str, exc: BaseException, sqlstate: str) -> str:
    """`cause` without the value it quotes: the words before the first `: "` (a name
    looked up and not found: without the quoted name, `schema does not exist`), and the
    column when the server named it."""
    if sqlstate in _LOOKUPS or (not sqlstate and _LOOKUP_WORDS.search(cause)):
        cause = _QUOTED_NAME.sub("", cause)
    kept = _QUOTED_VALUE.sub("value", cause.split(': "', 1)[0])
    diag = getattr(exc, "diag", None)
    column = getattr(diag, "column_name", None) if diag is not None else None
    return f"{kept} (column {quoted(column, 64)})" if column else kept


def _cause(exc: BaseException) -> str:
    """The server's primary message, first line, without any connection string."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = primary or str(exc)
    lines = text.strip().splitlines()
    line = lines[0] if lines else type(exc).__name__
    # libpq prefixes "connection to server at ... failed:"; the address is named already.
    return line.rsplit("failed: ", 1)[-1][:300]


# --- planning ------------------------------------------------------------------------

_TYPES_SQL = """
SELECT t.oid::int8, b.typname, e.typname
FROM pg_type t
JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
LEFT JOIN pg_type e ON e.oid = b.typelem AND b.typcategory = 'A'
WHERE t.oid::int8 = ANY(%s::int8[])
"""

_PRIMARY_KEY_SQL = """
SELECT a.attname
FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = %s::int8::oid AND i.indisprimary
ORDER BY array_position(i.indkey, a.attnum)
"""


#: Column sets whose values are unique and never NULL: the primary key, and each unique
#: index on plain columns (no expression, no WHERE) whose columns are all NOT NULL (a
#: unique index lets NULLs repeat).
_UNIQUE_SQL = """
SELECT array_agg(a.attname::text ORDER BY a.attname)
FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = %s::int8::oid AND i.indisunique AND i.indpred IS NULL
  AND i.indexprs IS NULL
GROUP BY i.indexrelid
HAVING bool_and(a.attnotnull)
"""

#: The inheritance children (not partitions: a partitioned table's keys hold across its
#: partitions), as PostgreSQL names them: a SELECT of the parent reads their rows too,
#: which the parent's unique indexes do not cover. One more than Described shows.
_INHERITED_SQL = """
SELECT c.oid::regclass::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = %s::int8::oid AND NOT c.relispartition ORDER BY 1 LIMIT 4
"""


def relation(table_schema: str, table: str, query: str) -> str:
    """The FROM item (with % doubled: every statement is sent with parameters)."""
    if query:
        # A newline before ")": a query ending in a -- comment cannot swallow it; only
        # one query expression parses as a subquery, so no second statement runs.
        text = f"({query}\n)"
    elif table_schema:
        text = f"{quote(table_schema)}.{quote(table)}"
    else:
        text = quote(table)
    return text.replace("%", "%%")


@dataclass(frozen=True)
class Described:
    """What planning learns of a table or query from the database."""

    columns: tuple[tuple[str, ColumnType], ...]
    #: The table's primary key (empty for a query or a table without one).
    key: tuple[str, ...]
    #: The table's column sets the catalog proves unique and never NULL.
    unique: tuple[frozenset[str], ...] = ()
    #: The table as PostgreSQL names it (quoted and qualified where needed), and its
    #: first inheritance children (up to 4): a table with children proves nothing unique.
    name: str = ""
    children: tuple[str, ...] = ()

    def proves_unique(self, order_by: Sequence[str]) -> bool:
        """Whether rows ordered by `order_by` never tie: it covers a unique set."""
        return any(columns <= set(order_by) for columns in self.unique)

    def inheritance_hint(self, order_by: Sequence[str]) -> str:
        """Why `order_by` may tie in a table with inheritance children, and the query
        that tells their rows apart (to follow an error message); "" without children."""
        if not self.children:
            return ""
        shown = ", ".join(c[:64] for c in self.children[:3])
        shown += ", ..." if len(self.children) > 3 else ""
        part = "part" if "part" not in (c for c, _ in self.columns) else "sluice_part"
        return (
            f"; table {self.name[:128]} has inheritance children ({shown}), whose rows a "
            "SELECT of it reads too and its unique indexes do not cover: tell them apart "
            f'with --query "SELECT tableoid::regclass::text AS {part}, * FROM '
            f'{self.name[:128]}" --order-by {",".join([part, *order_by])} '
            "(spec.source.query, spec.source.order_by)"
        )


def describe(target: PostgresTarget, table_schema: str, table: str, query: str) -> Described:
    """The columns (name, reading) of the table or query, the table's primary key, and
    its column sets that are unique."""
    field_name = "spec.source.query" if query else "spec.source.table"
    with connect(target, field_name=field_name) as con:
        key: tuple[str, ...] = ()
        unique: tuple[frozenset[str], ...] = ()
        name, children = "", ()
        if not query:
            qualified = relation(table_schema, table, "").replace("%%", "%")
            row = con.execute(
                "SELECT r::oid::int8, r::text FROM to_regclass(%s) AS r", [qualified]
            ).fetchone()
            if row is None or row[0] is None:
                raise InvalidArgument(
                    "spec.source.table", f"no table {table[:128]!r} in {target.label}"
                )
            name = row[1]
            key = tuple(r[0] for r in con.execute(_PRIMARY_KEY_SQL, [row[0]]).fetchall())
            unique = tuple(frozenset(r[0]) for r in con.execute(_UNIQUE_SQL, [row[0]]).fetchall())
            children = tuple(r[0] for r in con.execute(_INHERITED_SQL, [row[0]]).fetchall())
            if children:
                unique = ()  # the children's rows are read too, and may repeat any key
        cursor = con.execute(
            f"SELECT * FROM {relation(table_schema, table, query)} AS s LIMIT 0", []
        )
        result = cursor.pgresult
        assert result is not None and cursor.description is not None
        oids = [result.ftype(i) for i in range(result.nfields)]
        names = {
            int(oid): (base, element)
            for oid, base, element in con.execute(_TYPES_SQL, [oids]).fetchall()
        }
        columns = []
        for index, column in enumerate(cursor.description):
            base, element = names.get(oids[index], ("unknown", None))
            columns.append((column.name, column_type(base, element, result.fmod(index))))
        con.rollback()
    duplicated = {n for n, _ in columns if [c for c, _ in columns].count(n) > 1}
    if duplicated:
        raise InvalidArgument(
            field_name, f"the result has more than one column named {sorted(duplicated)[0]!r}"
        )
    return Described(tuple(columns), key, unique, name, children)


# --- reading -------------------------------------------------------------------------


def late_column(snapshot: str) -> ColumnType:
    """LATE_COLUMN for rows the snapshot `snapshot` ("xmin:xmax:xip,...") did not see.

    A row's xmin is a 32-bit transaction id; pg_visible_in_snapshot takes a 64-bit one.
    It is rebuilt from the reading snapshot's xmax (which is newer than every xmin the
    reader sees, and within 2^31 of it): xmax - ((xmax - xmin) mod 2^32)."""
    if not _SNAPSHOT_TEXT.fullmatch(snapshot):
        raise FailedPrecondition(
            "the parent export's source.snapshot is not a PostgreSQL snapshot; start a new "
            "chain with a full export"
        )
    xmax = "pg_snapshot_xmax(pg_current_snapshot())::text::int8"
    row = "sluice_source.xmin::text::int8"
    # mod(), not %: statements go with parameters, where % starts a placeholder.
    xid8 = f"({xmax} - mod(mod({xmax} - {row}, {_XID_WRAP}) + {_XID_WRAP}, {_XID_WRAP}))"
    visible = f"pg_visible_in_snapshot({xid8}::text::xid8, '{snapshot}'::pg_snapshot)"
    return ColumnType(pl.Boolean(), expression=f"(NOT {visible})")


@dataclass(frozen=True)
class Filters:
    """What the database evaluates: the ids (`= ANY(array)`, one parameter for any
    count), range bounds (column, ">=" or "<", value), and an incremental cursor bound
    (column, ">" or ">=", value) that rows written after the parent's snapshot pass too
    (`or_late`); an index on a column is used."""

    id_column: str = ""
    ids: Sequence[Any] = ()
    bounds: Sequence[tuple[str, str, Any]] = ()
    since: tuple[str, str, Any] | None = None
    or_late: bool = False
    #: The ids are text in ASCII lower case, matched in either case (ascii_case.py).
    ids_ignore_case: bool = False

    def where(self, target: PostgresTarget) -> tuple[str, list[Any]]:
        terms: list[str] = []
        params: list[Any] = []
        if self.since is not None:
            column, operator, value = self.since
            assert operator in (">", ">=")
            term = f"{sql_name(column)} {operator} %s"
            if self.or_late:
                term = f"({term} OR {target.column(LATE_COLUMN).expression})"
            terms.append(term)
            params.append(value)
        if self.ids:
            terms.append(_id_match(target, self.id_column, ignore_case=self.ids_ignore_case))
            params.append(list(self.ids))
        for column, operator, value in self.bounds:
            assert operator in ("=", "<>", "<", "<=", ">", ">=")
            terms.append(f"{sql_name(column)} {operator} %s")
            params.append(value)
        return (" WHERE " + " AND ".join(terms) if terms else ""), params


def select_sql(
    target: PostgresTarget,
    from_item: str,
    columns: Sequence[str],
    order_by: Sequence[str],
    filters: Filters,
    skip: int,
    after_key: Sequence[object] | None = None,
    null_keys: bool = False,
) -> tuple[str, list[Any]]:
    """The SELECT of one run: the columns (cast where read as text), the filters, the key
    order, and where to resume: after the last exported key, or at an OFFSET. With
    `null_keys` (a key the catalog does not prove NOT NULL) the rows after the key
    include those whose key is NULL (they sort last)."""
    selected = [target.column(c).select(sql_name(c)) for c in columns]
    shapes = array_shapes([(sql_name(c), target.column(c)) for c in columns])
    if shapes:
        selected.append(shapes)
    where, params = filters.where(target)
    # Qualified: the source's columns, in their own types. A bare name in ORDER BY would
    # be the output column, which is text for a key read as text (numeric, uuid): text
    # order, not the key's, and not the order `key > last key` continues in.
    keys = ", ".join(f"sluice_source.{sql_name(c)}" for c in order_by)
    if after_key is not None and null_keys:
        term, values = nulls_last_after_term(
            [f"sluice_source.{sql_name(c)}" for c in order_by], ["%s"] * len(order_by), after_key
        )
        where += (" AND " if where else " WHERE ") + term
        params.extend(values)
    elif after_key is not None:
        values_sql = ", ".join(["%s"] * len(order_by))
        where += (" AND " if where else " WHERE ") + f"({keys}) > ({values_sql})"
        params.extend(after_key)
    sql = f"SELECT {', '.join(selected)} FROM {from_item} AS sluice_source{where}"
    sql += " ORDER BY " + keys
    if skip > 0:
        sql += " OFFSET %s"
        params.append(skip)
    return sql, params


def extent_sql(
    target: PostgresTarget,
    from_item: str,
    key: str,
    after_key: Sequence[object] | None,
) -> tuple[str, list[Any]]:
    """(min key, max key, the table's size in bytes, the key's histogram bounds as text
    or NULL) of a table read by one key, after `after_key` when resuming: two index
    probes and catalog lookups, no scan (the read's other filters only make ranges
    emptier)."""
    column = f"sluice_source.{sql_name(key)}"
    where, params = "", []
    if after_key is not None:
        where, params = f" WHERE {column} > %s", [after_key[0]]
    name = from_item.replace("%%", "%")
    size = "(SELECT pg_relation_size(%s::regclass))"
    sql = (
        f"SELECT min({column}), max({column}), {size}, ({_HISTOGRAM_SQL}) "
        f"FROM {from_item} AS sluice_source{where}"
    )
    return sql, [name, name, key, *params]


#: The key column's histogram bounds (pg_stats: equal-frequency buckets), as text.
_HISTOGRAM_SQL = (
    "SELECT s.histogram_bounds::text FROM pg_stats s "
    "JOIN pg_class c ON c.relname = s.tablename "
    "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = s.schemaname "
    "WHERE c.oid = %s::regclass AND s.attname = %s ORDER BY s.inherited DESC LIMIT 1"
)


def _id_match(target: PostgresTarget, column: str, *, ignore_case: bool = False) -> str:
    """`column = ANY(array)`. Columns read as text (uuid, enums...) compare as text, as
    the pipeline sees them. In either case: lower() in the "C" collation, which folds
    ASCII letters only, as the pipeline does (whatever the database's locale: a Turkish
    one would fold `I` to a dotless i)."""
    if ignore_case:
        # The trim takes off ASCII_SPACES, as the pipeline's strip does.
        trimmed = ascii_strip_sql(f"{sql_name(column)}::text", "postgres")
        return f'lower({trimmed} COLLATE "C") = ANY(%s::text[])'
    if target.column(column).as_text:
        return f"{sql_name(column)}::text = ANY(%s::text[])"
    return f"{sql_name(column)} = ANY(%s)"
