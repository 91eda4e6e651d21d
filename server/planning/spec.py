"""What a caller asked for, as plain data.

An ExportSpec is the domain twin of the proto `ExportSpec`: frozen, JSON-serialisable
(it is stored in the job store), and not yet validated. `server.plan.build_plan` turns it
into an ExportPlan or raises InvalidArgument naming the field.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class SourceSpec:
    uri: str
    #: parquet | csv | ndjson | jsonl | arrow | ipc; "" infers it from the extension.
    format: str = ""
    #: Name of a server-side storage profile ("" for none).
    profile: str = ""
    #: What an unparseable row does: "fail" ("" too) or "skip" (left out and counted).
    on_bad_rows: str = ""
    #: CSV only: (column, type name) pairs that replace inferred types.
    schema: tuple[tuple[str, str], ...] = ()
    #: Database sources: the table to read ("NAME" or "SCHEMA.NAME"), or "".
    table: str = ""
    #: Database sources: one read-only SELECT whose rows are exported, or "".
    query: str = ""
    #: Database sources: the columns ordering the rows (default: the primary key).
    order_by: tuple[str, ...] = ()
    #: A named source of the server config (`[sources.NAME]`); "" for none. The plan
    #: fills uri, profile, table and query from it (server/planning/named_source_plan.py).
    name: str = ""


#: SourceSpec fields added after the first release: left out of the stored JSON while at
#: their defaults, so specs (and request fingerprints) stored before them stay the same.
_NEWER_SOURCE_FIELDS = {
    "on_bad_rows": "",
    "schema": (),
    "table": "",
    "query": "",
    "order_by": (),
    "name": "",
}


@dataclass(frozen=True)
class TimeRange:
    column: str
    #: Inclusive lower bound (timezone-aware UTC), or None.
    since: datetime | None = None
    #: Exclusive upper bound (timezone-aware UTC), or None.
    until: datetime | None = None


@dataclass(frozen=True)
class QuerySpec:
    columns: tuple[str, ...] = ()
    where: str = ""
    time_range: TimeRange | None = None
    ids: tuple[str, ...] = ()
    id_column: str = "id"
    #: Text ids match their column's values with ASCII letters in either case
    #: (`Alice@Example.com` is `alice@example.com`), the values without the spaces
    #: around them (` alice@example.com `): set by GDPR packages for an e-mail subject
    #: id, never by a request (the proto has no such field).
    ids_ignore_case: bool = False


@dataclass(frozen=True)
class OutputSpec:
    format: str = "jsonl"
    compression: str = "zstd"
    level: int | None = None


@dataclass(frozen=True)
class ChunkingSpec:
    #: None means the server default.
    target_bytes: int | None = None
    #: None means the server default.
    max_rows: int | None = None


@dataclass(frozen=True)
class DestinationSpec:
    uri: str
    dataset: str
    #: Name of a server-side storage profile ("" for none).
    profile: str = ""


@dataclass(frozen=True)
class RedactionRuleSpec:
    column: str = ""
    pattern: str = ""
    action: str = ""
    #: mask: trailing characters left visible; None (not given) is the entity's default.
    keep_last: int | None = None
    granularity: str = ""
    key: str = ""
    #: Column rules: the rule names a top-level column only, never a nested field of that
    #: name (a dotless rule otherwise matches a field's own name at any depth). A GDPR
    #: package keeps the subject's own `email` column so: `referee.email` in the same row
    #: is someone else's. Never given by a request (the proto has no such field).
    top_level: bool = False


@dataclass(frozen=True)
class RedactionSpec:
    #: none | basic | moderate | strict | custom; "" is none (moderate if include_pii=False).
    level: str = ""
    policy: str = ""
    rules: tuple[RedactionRuleSpec, ...] = ()
    include_pii: bool | None = None
    #: Rules a template adds (applied after the policy's, before the request's): like a
    #: policy's, a column rule matching no exported column is no error. Never stored:
    #: templates are applied when planning.
    template_rules: tuple[RedactionRuleSpec, ...] = ()


@dataclass(frozen=True)
class EncryptionSpec:
    age_recipients: tuple[str, ...] = ()
    #: Secret references ("env:NAME"), never the secrets themselves.
    age_passphrase_ref: str = ""
    zip_password_ref: str = ""


@dataclass(frozen=True)
class IncrementalSpec:
    #: "full" exports everything; "incremental" only what changed since the parent export.
    mode: str = "full"
    #: Column whose values only grow as rows change (updated_at, a sequence number).
    cursor: str = ""
    #: Also re-send rows up to this many seconds before the watermark (late arrivals).
    lookback_seconds: int = 0
    #: Primary key columns (deduplicate look-back rows; key-based change detection).
    key: tuple[str, ...] = ()


@dataclass(frozen=True)
class SubjectSpec:
    """A GDPR subject package: whose rows, and from which named sources."""

    #: The subject's id as text (converted to each source's subject_column type).
    subject_id: str
    #: Named sources to include; empty: every named source with a subject_column.
    sources: tuple[str, ...] = ()
    #: The sources an empty `sources` resolved to when the export was created, stored with
    #: the job so that a resumed run reads the same ones (a source configured meanwhile is
    #: not silently missing from a package that says what it holds). Not part of the
    #: request: ExportSpec.fingerprint() leaves it out, so a retried request still matches.
    resolved_sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExportSpec:
    source: SourceSpec
    destination: DestinationSpec
    query: QuerySpec = field(default_factory=QuerySpec)
    output: OutputSpec = field(default_factory=OutputSpec)
    chunking: ChunkingSpec = field(default_factory=ChunkingSpec)
    labels: tuple[tuple[str, str], ...] = ()
    redaction: RedactionSpec = field(default_factory=RedactionSpec)
    encryption: EncryptionSpec = field(default_factory=EncryptionSpec)
    incremental: IncrementalSpec = field(default_factory=IncrementalSpec)
    #: Who hears of the export's end: webhook URLs or names of configured notifications.
    notify: tuple[str, ...] = ()
    #: A template's name ("" for none): the plan fills what the request left unset
    #: (server/planning/template_plan.py).
    template: str = ""
    #: Store report.html and report.pdf beside the manifest.
    report: bool = False
    #: A GDPR subject package (server/planning/subject_package.py), or None.
    subject: SubjectSpec | None = None

    def to_json(self) -> str:
        raw = asdict(self)
        if not self.report:
            del raw["report"]
        if not self.template:
            del raw["template"]  # specs stored before templates keep their JSON
        if not self.redaction.template_rules:
            del raw["redaction"]["template_rules"]
        for rule in raw["redaction"]["rules"]:
            _store_keep_last(rule)
        for rule in (*raw["redaction"]["rules"], *raw["redaction"].get("template_rules", ())):
            if not rule["top_level"]:
                del rule["top_level"]  # added later: specs stored before keep their JSON
        for name, default in _NEWER_SOURCE_FIELDS.items():
            # asdict keeps tuples as tuples, so the dict's value compares as the field's.
            if raw["source"][name] == default:
                del raw["source"][name]
        if self.subject is None:
            del raw["subject"]  # added later: older specs keep their JSON
        elif not self.subject.resolved_sources:
            del raw["subject"]["resolved_sources"]
        if not self.query.ids_ignore_case:
            del raw["query"]["ids_ignore_case"]  # added later: stored specs keep their JSON
        if not self.notify:
            # Added later: left out when empty, so older fingerprints stay the same.
            del raw["notify"]
        return json.dumps(raw, default=_encode, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ExportSpec:
        raw = json.loads(text)
        query = raw["query"]
        time_range = query.get("time_range")
        return cls(
            source=_source(raw["source"]),
            destination=DestinationSpec(**raw["destination"]),
            query=QuerySpec(
                columns=tuple(query["columns"]),
                where=query["where"],
                time_range=None
                if time_range is None
                else TimeRange(
                    column=time_range["column"],
                    since=_decode_time(time_range["since"]),
                    until=_decode_time(time_range["until"]),
                ),
                ids=tuple(query["ids"]),
                id_column=query["id_column"],
                ids_ignore_case=bool(query.get("ids_ignore_case", False)),
            ),
            output=OutputSpec(**raw["output"]),
            chunking=ChunkingSpec(**raw["chunking"]),
            labels=tuple((k, v) for k, v in raw["labels"]),
            redaction=_redaction(raw.get("redaction")),
            encryption=_encryption(raw.get("encryption")),
            incremental=_incremental(raw.get("incremental")),
            notify=tuple(str(target) for target in raw.get("notify", ())),
            template=raw.get("template", ""),
            report=bool(raw.get("report", False)),
            subject=_subject(raw.get("subject")),
        )

    def fingerprint(self) -> str:
        """A stable digest of the request, to tell a retry from a reused request id (what
        the server resolved for itself, `subject.resolved_sources`, is no part of it)."""
        spec = self
        if self.subject is not None and self.subject.resolved_sources:
            spec = replace(self, subject=replace(self.subject, resolved_sources=()))
        return hashlib.sha256(spec.to_json().encode()).hexdigest()


def _source(raw: dict[str, Any]) -> SourceSpec:
    return SourceSpec(
        uri=raw["uri"],
        format=raw.get("format", ""),
        profile=raw.get("profile", ""),
        on_bad_rows=raw.get("on_bad_rows", ""),
        schema=tuple((str(name), str(kind)) for name, kind in raw.get("schema", ())),
        table=raw.get("table", ""),
        query=raw.get("query", ""),
        order_by=tuple(str(column) for column in raw.get("order_by", ())),
        name=raw.get("name", ""),
    )


def _subject(raw: dict[str, Any] | None) -> SubjectSpec | None:
    if raw is None:
        return None
    return SubjectSpec(
        str(raw["subject_id"]),
        tuple(str(s) for s in raw.get("sources", ())),
        tuple(str(s) for s in raw.get("resolved_sources", ())),
    )


#: Stored beside `"keep_last": 0` when a rule gave 0: specs stored before keep_last could be
#: told from "not given" hold 0 for "not given", and keep that meaning (and their request
#: fingerprints); a stored N >= 1 was always given.
_KEEP_LAST_GIVEN = "keep_last_given"


def _store_keep_last(rule: dict[str, Any]) -> None:
    if rule["keep_last"] is None:
        rule["keep_last"] = 0
    elif rule["keep_last"] == 0:
        rule[_KEEP_LAST_GIVEN] = True


def _rule(raw: dict[str, Any]) -> RedactionRuleSpec:
    fields = dict(raw)
    given = fields.pop(_KEEP_LAST_GIVEN, False)
    if fields.get("keep_last", 0) == 0 and not given:
        fields["keep_last"] = None
    return RedactionRuleSpec(**fields)


def _redaction(raw: dict[str, Any] | None) -> RedactionSpec:
    if not raw:
        return RedactionSpec()
    rules = tuple(_rule(rule) for rule in raw.get("rules", ()))
    return RedactionSpec(
        level=raw.get("level", ""),
        policy=raw.get("policy", ""),
        rules=rules,
        include_pii=raw.get("include_pii"),
    )


def _encryption(raw: dict[str, Any] | None) -> EncryptionSpec:
    if not raw:
        return EncryptionSpec()
    return EncryptionSpec(
        age_recipients=tuple(raw.get("age_recipients", ())),
        age_passphrase_ref=raw.get("age_passphrase_ref", ""),
        zip_password_ref=raw.get("zip_password_ref", ""),
    )


def _incremental(raw: dict[str, Any] | None) -> IncrementalSpec:
    if not raw:
        return IncrementalSpec()
    return IncrementalSpec(
        mode=raw.get("mode", "full"),
        cursor=raw.get("cursor", ""),
        lookback_seconds=int(raw.get("lookback_seconds", 0)),
        key=tuple(raw.get("key", ())),
    )


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _decode_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
