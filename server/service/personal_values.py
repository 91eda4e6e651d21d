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
  entity's name (EMAIL) is shown;
- the source's URI keeps only its root: a cloud URI its scheme and bucket, container or
  host (`s3://lake/…`), a local path its first folder (`/data/…`);
- each label's value is `?` (its key is shown), but `sluice.schedule`'s.

That masking is the job store's for a deleted export (jobs/forgotten_values.py). A
schedule's view hides more, which the job store keeps to find a deleted export's files
again, and which may be built per person too (a package schedule writing to
`/exports/dsar/alice-smith/`):

- the destination's URI keeps only its root, as the source's (`/exports/…`);
- the dataset is `?`;
- every label's value is `?`, `sluice.schedule`'s too;
- each age recipient is `?` (how many, not which: a public key may be the subject's own).

Everything else (source names and table, columns, time range, output, the rules' columns
and actions, encryption by secret name, template, cron and policies) is shown as it is.

A schedule's `last_error` is the planning error of its last tick, which may quote the
request's values (`dob >= DATE '1990-04-01'`): those callers get only the field it names
and a sentence saying an admin sees the rest (error_without_values).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Final

from sluice.server.jobs.forgotten_values import FORGOTTEN, forgotten_spec, location_root
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
    """`spec` as a caller who may not see the people it names is shown it: its subject
    id, SQL literals, ids, custom rule patterns, notify targets, source location and
    label values hidden as the job store keeps a deleted export's
    (jobs/forgotten_values.py), one definition of what names people, and its
    destination, dataset, every label value and age recipients hidden too (the module's
    docstring)."""
    forgotten = forgotten_spec(spec)
    return replace(
        forgotten,
        destination=replace(
            forgotten.destination,
            uri=location_root(forgotten.destination.uri),
            dataset=HIDDEN if forgotten.destination.dataset else "",
        ),
        labels=tuple((key, HIDDEN) for key, _ in forgotten.labels),
        encryption=replace(
            forgotten.encryption,
            age_recipients=(HIDDEN,) * len(forgotten.encryption.age_recipients),
        ),
    )


def error_without_values(message: str) -> str:
    """A schedule's last error without what it may quote of the spec: the field it names
    (when it names one) and HIDDEN_ERROR; "" stays ""."""
    if not message:
        return message
    field = _FIELD.match(message)
    return f"{field.group(1)}: {HIDDEN_ERROR}" if field else HIDDEN_ERROR
