"""An export spec as a caller who may not see the people it names is shown it.

A spec can name people: a GDPR subject package's subject id (often an e-mail address),
the literals of a `where` and of a database `query` (`email = 'alice@example.com'`) and
`ids`. A schedule's spec is readable by every principal with exports:read, including
those to whom its exports are NOT_FOUND, so they are shown it without those values:

- `subject.subject_id` is `?`;
- SQL text has its string and number literals masked as `?` and its comments dropped, as
  a redacted export's manifest records it (execution/masked_sql.py). Every double-quoted
  token is masked too: no source is read to tell its columns, and SQLite reads a
  double-quoted word naming no column as a string;
- each of `ids` is `?`: how many ids, not which.

Everything else (source names, destination, columns, redaction, encryption by secret
name or public recipient, labels) is shown as it is.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from sluice.server.execution.masked_sql import masked_literals
from sluice.server.planning.spec import ExportSpec

#: What stands for a hidden value (the mark masked SQL literals get too).
HIDDEN: Final = "?"


def without_personal_values(spec: ExportSpec) -> ExportSpec:
    """`spec` with its subject id, SQL literals and ids hidden."""
    query = replace(
        spec.query,
        where=_masked_sql(spec.query.where),
        ids=tuple(HIDDEN for _ in spec.query.ids),
    )
    source = replace(spec.source, query=_masked_sql(spec.source.query))
    subject = spec.subject
    if subject is not None:
        subject = replace(subject, subject_id=HIDDEN)
    return replace(spec, source=source, query=query, subject=subject)


def _masked_sql(sql: str) -> str:
    return masked_literals(sql, sqlite_columns=())
