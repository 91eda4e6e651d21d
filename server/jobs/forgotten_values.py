"""What the job store keeps of a deleted export's request: the request with its personal
values masked.

While an export lives its job keeps the request as sent (resume reads it): a `where` and a
database query with their literals (`email = 'alice@example.com'`), `ids`, a subject
package's subject id, a custom redaction rule's pattern (`bob\\.smith@example\\.com`), its
notify targets (a mailto: address, a webhook URL with a token in its path or query).
Once the export is deleted nothing runs it again, so the store keeps only what shows the
job: SQL with its literals masked as the manifest masks them
(server/execution/masked_sql.py), each id as `?` (so their count stays visible, as the
manifest records ids), the subject id as `?`, a rule's pattern as `?` unless it names a
built-in entity (EMAIL), a notify target as logs show it (notifications.targets.shown;
a mailto: address as `mailto:?`), the source's URI as its root (`s3://lake/…`: a
path may name a person), each label's value as `?` but the schedule label's (a label
may be built per person: `subject=alice@example.com`). Nothing reads those afterwards: a
DELETED job's deliveries are never due (model.NOTIFYING_STATES; the delete fails those still
pending, "export deleted") and it never resumes.
Everything else (destination and dataset, output, label keys, columns, the rules'
columns and actions) is kept: `export get` and `export list` show it, and deleting a
left-over export again needs its destination and file names (planning.export_files,
which reads neither rules nor notify). So does the request id, which answers a retry of
the deleted export's request: a caller must not build request ids from personal values
(README).
The job's error messages, which may quote any of those values, are reduced to their code
by the stores' SQL beside this (rows.FORGOTTEN_ERROR). A schedule's view for a non-admin
hides more than this (service/personal_values.py).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from sluice.server.execution.masked_sql import masked_literals
from sluice.server.notifications.targets import MAILTO, shown
from sluice.server.pipeline.redaction.entities import ENTITY_BY_NAME
from sluice.server.planning.spec import ExportSpec, RedactionRuleSpec
from sluice.sinks.locations import without_secrets

#: What stands for each forgotten value (the mask masked SQL uses).
FORGOTTEN = "?"
#: The label every scheduled export carries (its value the schedule's name, the daemon's
#: config, nobody's value): `export list --label sluice.schedule=NAME` lists a
#: schedule's runs, deleted ones included. Every other label's value is forgotten.
SCHEDULE_LABEL: Final = "sluice.schedule"


def forgotten_spec(spec: ExportSpec) -> ExportSpec:
    """`spec` with its personal values masked. Masking again changes nothing."""
    query = replace(
        spec.query,
        where=_masked_sql(spec.query.where),
        ids=(FORGOTTEN,) * len(spec.query.ids),
    )
    source = replace(
        spec.source, uri=location_root(spec.source.uri), query=_masked_sql(spec.source.query)
    )
    subject = None if spec.subject is None else replace(spec.subject, subject_id=FORGOTTEN)
    rules = tuple(_forgotten_rule(rule) for rule in spec.redaction.rules)
    return replace(
        spec,
        query=query,
        source=source,
        subject=subject,
        labels=forgotten_labels(spec.labels),
        redaction=replace(spec.redaction, rules=rules),
        notify=tuple(forgotten_target(target) for target in spec.notify),
    )


def forgotten_labels(labels: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """Labels as a deleted job keeps them: each key, each value `?` but SCHEDULE_LABEL's
    (a label may be built per person: `subject=alice@example.com`)."""
    return tuple((key, value if key == SCHEDULE_LABEL else FORGOTTEN) for key, value in labels)


def forgotten_target(target: str) -> str:
    """A notify target as a deleted job keeps it: as logs show it, a URL without its
    path, query and user info, a mailto: address as `mailto:?`, a configured
    notification's name as it is (the daemon's config, no request's value)."""
    if target.startswith(MAILTO):
        return MAILTO + FORGOTTEN
    return shown(target)


def _forgotten_rule(rule: RedactionRuleSpec) -> RedactionRuleSpec:
    # A built-in entity's name is no value of anyone's; a regular expression may be one
    # (as planning reads a pattern: redaction_plan._entity).
    if not rule.pattern or rule.pattern.strip().upper() in ENTITY_BY_NAME:
        return rule
    return replace(rule, pattern=FORGOTTEN)


def _masked_sql(sql: str) -> str:
    # Which dialect the source reads is the plan's to know, not the store's: every
    # double-quoted token is masked as SQLite would read a name of no column (a string),
    # which costs only the readability of a quoted column name.
    return masked_literals(sql, sqlite_columns=())


def location_root(uri: str) -> str:
    """A source or destination URI without what lies below its root: a cloud or database
    URI as `scheme://authority/…` (no credentials, query or fragment), a file:// URI or
    a local path as its first folder and `/…`. What is no deeper stays as it is."""
    if "://" not in uri:
        return _first_folder(uri)
    scheme, _, rest = without_secrets(uri).partition("://")
    authority, slash, path = rest.partition("/")
    if not authority:  # file:///srv/exports/alice
        return f"{scheme}://{_first_folder(slash + path)}"
    return f"{scheme}://{authority}/…" if path.strip("/") else f"{scheme}://{rest}"


def _first_folder(path: str) -> str:
    parts = [part for part in path.split("/") if part]
    if len(parts) <= 1:
        return path
    return f"{'/' if path.startswith('/') else ''}{parts[0]}/…"
