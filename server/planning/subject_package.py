"""A GDPR subject package (spec.subject) planned as a sequence of parts.

One package is one export (one id, one manifest). Planning expands it into parts, one
per named source and file format, in a fixed order (sources by name, or as the request
listed them; JSON then CSV): each part is an ordinary ExportPlan of that source, selecting
the subject's rows through `query.ids` on the source's `subject_column` (so the filter is
pushed down wherever ids are: WHERE col IN (...) in SQLite, DuckDB and PostgreSQL, the
query stage on files). The runner runs the parts one after the other into the same export
folder, with chunk numbers continuing from part to part, so the journal resumes a package
exactly as it resumes one export.

Each file of a part names its source: `part-000002.orders.json.zip`. JSON files are one
document `{"metadata": {...}, "data": [records]}` (the `json` format), CSV files have a
header row. What the request may set: destination, chunking, compression, encryption,
redaction, labels, notify, template; the package says the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property

from sluice.server.committed.chain_tips import ChainTip
from sluice.server.committed.sealed_values import ValueSealer
from sluice.server.errors import (
    DataDependentArgument,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    quoted,
)
from sluice.server.gdpr_config import GdprConfig
from sluice.server.pipeline.ascii_case import ascii_strip
from sluice.server.pipeline.source import ResolvedSource
from sluice.server.planning.named_source_plan import (
    is_configured_fault,
    named_source_error,
    with_named_source,
)
from sluice.server.planning.plan import ExportPlan, build_plan, resolved_spec
from sluice.server.planning.spec import (
    EncryptionSpec,
    ExportSpec,
    IncrementalSpec,
    QuerySpec,
    RedactionRuleSpec,
    RedactionSpec,
    SourceSpec,
    SubjectSpec,
)
from sluice.server.planning.template_plan import find_template, with_template
from sluice.server.settings import Settings
from sluice.server.templates import SUBJECT_OWN_COLUMNS, SUBJECT_PACKAGE_REDACTION

#: A check of the files a source expands to (the caller's source roots).
#: Sees a source's files (ResolvedSource.files) before any is read; the source names
#: them in errors (a named source's by place).
FileCheck = Callable[[ResolvedSource], None]

#: The formats every source of a package is written in, in this order.
PACKAGE_FORMATS = ("json", "csv")
_MAX_SUBJECT_ID = 256
#: An e-mail address: a local part, "@", a domain with a dot, no spaces.
_EMAIL_SHAPED = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


@dataclass(frozen=True)
class PackagePart:
    """One source in one format: an ordinary export plan of the subject's rows."""

    source_name: str
    #: The named source's description (the category of data, for the person).
    description: str
    subject_column: str
    plan: ExportPlan

    @property
    def format(self) -> str:
        return self.plan.encoder.name


@dataclass(frozen=True)
class PackagePlan:
    export_id: str
    #: The request with its template applied.
    spec: ExportSpec
    subject_id: str
    parts: tuple[PackagePart, ...]
    gdpr: GdprConfig
    #: Whether the package's own redaction runs (others' e-mails, phones and names in text
    #: redacted), rather than one the request brought.
    redacts_others: bool = True

    @cached_property
    def first(self) -> ExportPlan:
        """Destination, prefix and output settings are the same in every part."""
        return self.parts[0].plan


def build_export_plan(
    spec: ExportSpec,
    settings: Settings,
    export_id: str,
    check_files: FileCheck | None = None,
    *,
    owner: str,
    offsets_as_utc: bool = True,
    chain_tip: ChainTip | None = None,
    sealer: ValueSealer | None = None,
) -> ExportPlan | PackagePlan:
    """The plan of any request: a subject package's, or one export's (build_plan).
    `check_files` sees the files each source expands to before any is read; `owner` is
    the export's creator, whose chain an incremental export continues; `offsets_as_utc`
    as build_plan's (a package reads them as UTC), and `chain_tip` (an increment's)."""
    if spec.subject is None:
        return build_plan(
            spec,
            settings,
            export_id,
            check_files,
            owner=owner,
            offsets_as_utc=offsets_as_utc,
            chain_tip=chain_tip,
            sealer=sealer,
        )
    return build_package_plan(spec, settings, export_id, check_files, owner=owner)


def resolved_specs(spec: ExportSpec, settings: Settings) -> tuple[ExportSpec, ...]:
    """The specs as they will run, one per source read (a package reads several): what
    a caller may reach is checked on these."""
    subject = spec.subject
    if subject is None:
        return (resolved_spec(spec, settings),)
    spec = with_template(spec, settings)
    return tuple(part for _, _, part in _part_specs(spec, stripped(subject), settings))


def stripped(subject: SubjectSpec) -> SubjectSpec:
    """The subject with its id as matched: without the spaces around it, which a copied
    id brings along (`' alice@example.com'` would match no row)."""
    return replace(subject, subject_id=ascii_strip(subject.subject_id))


def ignores_case(subject_id: str) -> bool:
    """Whether the subject's rows are found in either case: an e-mail address, whose
    spelling varies from system to system (`Alice@Example.com`), and an access request
    must find every row of the person. Other ids match exactly."""
    return _EMAIL_SHAPED.fullmatch(subject_id) is not None


def build_package_plan(
    spec: ExportSpec,
    settings: Settings,
    export_id: str,
    check_files: FileCheck | None = None,
    *,
    owner: str,
) -> PackagePlan:
    """Check the package request and plan each part; raise InvalidArgument naming the
    first bad field (FailedPrecondition when the server has no `[gdpr]` table)."""
    assert spec.subject is not None
    subject = stripped(spec.subject)
    # Encryption the request did not bring is its template's (gdpr's when it names none):
    # an error about it says so, or the caller is told of a field it never set.
    hint = template_encryption_hint(spec, settings)
    spec = with_template(spec, settings)
    if settings.gdpr is None:
        raise FailedPrecondition(
            "subject packages need the server's [gdpr] table (controller, contact, purposes, "
            "retention, recipients) for the README of each package"
        )
    parts: list[PackagePart] = []
    for name, subject_column, part_spec in _part_specs(spec, subject, settings):
        named = settings.sources[name]
        for fmt in PACKAGE_FORMATS:
            shaped = replace(part_spec, output=replace(part_spec.output, format=fmt))
            try:
                plan = build_plan(
                    shaped, settings, export_id, check_files, owner=owner, source_name=name
                )
            except InvalidArgument as exc:
                if is_configured_fault(exc, spec.source):
                    raise named_source_error(name, exc, spec.source) from None
                raise _in_part(exc, name, hint) from None
            # The plan ran on the resolved location; the manifest records the name.
            recorded = replace(plan.spec, source=replace(plan.spec.source, name=name))
            parts.append(
                PackagePart(
                    name,
                    named.description,
                    subject_column,
                    # The CSV files are for spreadsheets: no cell of them runs as a formula.
                    replace(plan, spec=recorded, part_label=name, neutralise_formulas=True),
                )
            )
    own = spec.redaction in (RedactionSpec(), SUBJECT_PACKAGE_REDACTION)
    return PackagePlan(export_id, spec, subject.subject_id, tuple(parts), settings.gdpr, own)


def _part_specs(
    spec: ExportSpec, subject: SubjectSpec, settings: Settings
) -> list[tuple[str, str, ExportSpec]]:
    """(source name, subject column, spec reading the subject's rows of it) per source;
    the specs' sources are resolved and carry no name (build_plan would resolve again)."""
    _check_request(spec, subject)
    own = spec.redaction in (RedactionSpec(), SUBJECT_PACKAGE_REDACTION)
    found = []
    for name in _source_names(subject, settings):
        column = settings.sources[name].subject_column
        named = with_named_source(
            replace(spec, source=SourceSpec(uri="", name=name), template="", subject=None),
            settings,
        )
        query = QuerySpec(
            ids=(subject.subject_id,),
            id_column=column,
            ids_ignore_case=ignores_case(subject.subject_id),
        )
        part = replace(
            named,
            source=replace(named.source, name=""),
            query=query,
            redaction=_own_redaction(column) if own else spec.redaction,
        )
        found.append((name, column, part))
    return found


def _own_redaction(subject_column: str) -> RedactionSpec:
    """The package's redaction of a part: the subject column (top-level) is the subject's
    own id, kept as SUBJECT_OWN_COLUMNS are (`owner` holding the person's address); a
    nested field of that name (`referred_by.account`, `friends[].account`) holds another
    person's id, redacted (an opaque id no pattern would find)."""
    rules = SUBJECT_PACKAGE_REDACTION.template_rules
    if subject_column.lower() not in SUBJECT_OWN_COLUMNS:  # those have their rules (`email`)
        rules = (*rules, RedactionRuleSpec(column=subject_column, action="redact"))
    keep = RedactionRuleSpec(column=subject_column, action="keep", top_level=True)
    return replace(SUBJECT_PACKAGE_REDACTION, template_rules=(*rules, keep))


def with_resolved_sources(spec: ExportSpec, package: PackagePlan) -> ExportSpec:
    """`spec` as stored with its job: a package asking for every source with a
    subject_column keeps the ones it was planned with (SubjectSpec.resolved_sources)."""
    subject = spec.subject
    if subject is None or subject.sources:
        return spec
    names = tuple(dict.fromkeys(part.source_name for part in package.parts))
    return replace(spec, subject=replace(subject, resolved_sources=names))


def _source_names(subject: SubjectSpec, settings: Settings) -> tuple[str, ...]:
    if not subject.sources and subject.resolved_sources:
        try:
            return _listed(subject.resolved_sources, settings)
        except InvalidArgument as exc:
            raise FailedPrecondition(
                "the package's sources changed since it was created "
                f"({exc.violations[0].description}); start a new package"
            ) from None
    if not subject.sources:
        names = tuple(n for n, s in sorted(settings.sources.items()) if s.subject_column)
        if not names:
            raise InvalidArgument(
                "spec.subject.sources", "no named source of the server has a subject_column"
            )
        return names
    return _listed(subject.sources, settings)


def _listed(sources: tuple[str, ...], settings: Settings) -> tuple[str, ...]:
    for position, name in enumerate(sources):
        field = f"spec.subject.sources[{position}]"
        named = settings.sources.get(name)
        if named is None:
            known = ", ".join(sorted(settings.sources)) or "none are configured"
            raise InvalidArgument(field, f"no source named {quoted(name)} (known: {known})")
        if not named.subject_column:
            raise InvalidArgument(
                field,
                f"source {quoted(name)} has no subject_column: the server cannot tell whose "
                "rows it holds",
            )
        if name in sources[:position]:
            raise InvalidArgument(field, f"source {quoted(name)} is listed twice")
    return sources


def _check_request(spec: ExportSpec, subject: SubjectSpec) -> None:
    """A package says its sources, rows and formats: the request may not say them too."""
    subject_id = subject.subject_id
    if not ascii_strip(subject_id):
        raise InvalidArgument("spec.subject.subject_id", "is required")
    if len(subject_id) > _MAX_SUBJECT_ID or not subject_id.isprintable():
        raise InvalidArgument(
            "spec.subject.subject_id", f"must be at most {_MAX_SUBJECT_ID} printable characters"
        )
    source = spec.source
    given = {
        "uri": source.uri,
        "name": source.name,
        "format": source.format,
        "profile": source.profile,
        "table": source.table,
        "query": source.query,
    }
    for field, value in given.items():
        if value:
            raise InvalidArgument(
                f"spec.source.{field}",
                "a subject package reads the named sources of spec.subject.sources; "
                f"leave {field} empty",
            )
    if spec.query != QuerySpec():
        raise InvalidArgument(
            "spec.query", "a subject package selects the subject's rows itself; leave it empty"
        )
    if spec.output.format:
        raise InvalidArgument(
            "spec.output.format", "a subject package always holds JSON and CSV files"
        )
    if spec.incremental not in (IncrementalSpec(), IncrementalSpec(mode="")):
        raise InvalidArgument("spec.incremental", "a subject package is always a full export")
    if spec.report:
        raise InvalidArgument(
            "spec.report", "a subject package has its own README.html instead of a report"
        )


def template_encryption_hint(spec: ExportSpec, settings: Settings) -> str:
    """Why an error about spec.encryption concerns a package request that set none: the
    encryption is its template's (gdpr's when it names none), and what the caller can do
    instead. "" for a request with encryption of its own, or a template setting none."""
    if spec.subject is None or not spec.template or spec.encryption != EncryptionSpec():
        return ""
    try:
        encryption = find_template(spec.template, settings).encryption
    except InvalidArgument:
        return ""  # an unknown template is said on spec.template
    if encryption is None:
        return ""
    how = "encrypts each file"
    if encryption.zip_password_ref:
        how = (
            "makes each file a zip whose password is the server secret "
            f"{quoted(encryption.zip_password_ref)}, which works with compression zip or "
            "unset and that secret configured and allowed to the caller"
        )
    return (
        f"the request sets no encryption, so template {quoted(spec.template)} {how}; "
        "else bring the request's own encryption or name another template"
    )


def denied_in_package(
    exc: PermissionDenied, spec: ExportSpec, settings: Settings
) -> PermissionDenied:
    """A package's PermissionDenied, said about the package: a secret the request did not
    name is its template's (template_encryption_hint)."""
    hint = template_encryption_hint(spec, settings)
    if not hint or not exc.message.startswith("spec.encryption"):
        return exc
    return PermissionDenied(f"{exc.message}; {hint}")


#: Fields of a part the package sets from its source (the configured source, the
#: subject's rows of it): an error there names the source. Any other field is the
#: request's, for the whole package: its error names a source only when the source's
#: data made it wrong (DataDependentArgument, raised where the data is checked: a
#: column the package's formats cannot write, a rule naming a column the source lacks).
_SOURCE_FIELDS = ("spec.source", "spec.query")


def _in_part(exc: InvalidArgument, source: str, hint: str) -> InvalidArgument:
    """A part's error, said about the package: a bad id is the subject id's fault, and
    encryption the request did not bring is its template's (`hint`). The source is named
    only when its data made the field wrong."""
    violation = exc.violations[0]
    field = violation.field
    description = violation.description
    of_source = isinstance(exc, DataDependentArgument) or _is_source_field(field)
    if field.startswith("spec.query"):
        field = "spec.subject.subject_id"
    elif field.startswith("spec.encryption") and hint:
        description += f"; {hint}"
    if of_source:
        description = f"source {quoted(source)}: {description}"
    return InvalidArgument(field, description)


def _is_source_field(field: str) -> bool:
    return any(
        field == prefix or field.startswith((f"{prefix}.", f"{prefix}["))
        for prefix in _SOURCE_FIELDS
    )
