"""An export spec, and why it last failed, as a caller who may not see the people it
names is shown them.

A spec can name people: a GDPR subject package's subject id (often an e-mail address),
the literals of a `where` and of a database `query` (`email = 'alice@example.com'`),
`ids`, the e-mail address of a `mailto:` notify target, a custom redaction rule's
pattern. A schedule's spec is
readable by every principal with exports:read, including those to whom its exports are
NOT_FOUND, so they are shown it without those values:

- `subject.subject_id` is `?`;
- SQL text has its string and number literals masked as `?` and its comments dropped, as
  a redacted export's manifest records it (execution/masked_sql.py). Every double-quoted
  token is masked too: no source is read to tell its columns, and SQLite reads a
  double-quoted word naming no column as a string;
- each of `ids` is `?`: how many ids, not which;
- a notify target `mailto:ADDRESS` is `mailto:?`, a webhook URL is shown as GetExport
  shows it (`https://host[:port]/…`, notifications/targets.shown); a configured
  notification's name is shown as it is;
- a custom redaction rule's pattern (`bob\\.smith@example\\.com`) is `?`; a built-in
  entity's name (EMAIL) is shown.

The masking is the job store's for a deleted export (jobs/forgotten_values.py).

Everything else (source names, destination, columns, the rules' columns and actions,
encryption by secret name or public recipient, labels) is shown as it is.

A schedule's `last_error` is the planning error of its last tick, which may quote the
request's values (`dob >= DATE '1990-04-01'`): those callers get only the field it names
and a sentence saying an admin sees the rest (error_without_values).
"""

from __future__ import annotations

import re
from typing import Final

from sluice.server.jobs.forgotten_values import FORGOTTEN, forgotten_spec
from sluice.server.planning.spec import ExportSpec

#: What stands for a hidden value (the mark masked SQL literals get too).
HIDDEN: Final = FORGOTTEN

#: The field an InvalidArgument's message starts with (`spec.query.where: ...`): dotted
#: names and `[...]` indexes (a label key, a recipient's position), nothing else.
_FIELD: Final = re.compile(r"(spec(?:\.[a-z_]+|\[[^\]\s]*\])*): ")

#: A last error as those callers see it: whatever the message said may quote the spec.
HIDDEN_ERROR: Final = (
    "the tick's export could not be created; the reason may quote the spec's values, "
    "which only an admin sees"
)


def without_personal_values(spec: ExportSpec) -> ExportSpec:
    """`spec` with its subject id, SQL literals, ids, custom rule patterns and notify
    targets hidden: as the job store keeps a deleted export's (jobs/forgotten_values.py),
    one definition of what names people."""
    return forgotten_spec(spec)


def error_without_values(message: str) -> str:
    """A schedule's last error without what it may quote of the spec: the field it names
    (when it names one) and HIDDEN_ERROR; "" stays ""."""
    if not message:
        return message
    field = _FIELD.match(message)
    return f"{field.group(1)}: {HIDDEN_ERROR}" if field else HIDDEN_ERROR
