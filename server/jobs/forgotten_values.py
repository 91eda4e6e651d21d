"""What the job store keeps of a deleted export's request: the request with its personal
values masked.

While an export lives its job keeps the request as sent (resume reads it): a `where` and a
database query with their literals (`email = 'alice@example.com'`), `ids`, a subject
package's subject id. Once the export is deleted nothing runs it again, so the store
keeps only what shows the job: SQL with its literals masked as the manifest masks them
(server/execution/masked_sql.py), each id as `?` (so their count stays visible, as the
manifest records ids), the subject id as `?`. Everything else (destination, output,
labels, columns) is kept: `export get` and `export list` show it, and deleting a left-over
export again needs its destination and file names.
"""

from __future__ import annotations

from dataclasses import replace

from sluice.server.execution.masked_sql import masked_literals
from sluice.server.planning.spec import ExportSpec

#: What stands for each forgotten value (the mask masked SQL uses).
FORGOTTEN = "?"


def forgotten_spec(spec: ExportSpec) -> ExportSpec:
    """`spec` with its personal values masked. Masking again changes nothing."""
    query = replace(
        spec.query,
        where=_masked_sql(spec.query.where),
        ids=(FORGOTTEN,) * len(spec.query.ids),
    )
    source = replace(spec.source, query=_masked_sql(spec.source.query))
    subject = None if spec.subject is None else replace(spec.subject, subject_id=FORGOTTEN)
    return replace(spec, query=query, source=source, subject=subject)


def _masked_sql(sql: str) -> str:
    # Which dialect the source reads is the plan's to know, not the store's: every
    # double-quoted token is masked as SQLite would read a name of no column (a string),
    # which costs only the readability of a quoted column name.
    return masked_literals(sql, sqlite_columns=())
