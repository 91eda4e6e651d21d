"""A request's `template` applied: the spec the rest of planning sees has the template's
values wherever the request left a field unset. The request wins: output format,
compression and level each; the source (a uri or a name) as a whole; redaction and
encryption as a whole (a request with any redaction or encryption of its own keeps only
its own); labels by key.

A GDPR subject package whose request names no template takes `gdpr` (each file an AES-256
zip, the package redaction): with_default_template, applied where a request is accepted
(CreateExport, CreateSchedule), so the job's stored spec and the manifest name the
template that shaped it, and a package stored before this default resumes as it began."""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from sluice.server.errors import FailedPrecondition, InvalidArgument, quoted
from sluice.server.planning.spec import EncryptionSpec, ExportSpec, OutputSpec, RedactionSpec
from sluice.server.settings import Settings
from sluice.server.templates import Template, templates

#: The template a subject package's request takes when it names none (`sluice gdpr
#: package` asks for it by default too): a package is sealed unless asked otherwise.
SUBJECT_PACKAGE_TEMPLATE: Final = "gdpr"


def with_default_template(spec: ExportSpec) -> ExportSpec:
    """`spec` naming the template it takes when it names none: `gdpr` for a subject
    package, none otherwise. A request naming a template keeps it."""
    if spec.subject is not None and not spec.template:
        return replace(spec, template=SUBJECT_PACKAGE_TEMPLATE)
    return spec


def find_template(name: str, settings: Settings) -> Template:
    known = templates(settings.templates, settings.backup_recipients)
    template = known.get(name)
    if template is None:
        raise InvalidArgument(
            "spec.template", f"no template named {quoted(name)} (known: {', '.join(known)})"
        )
    return template


def check_template_fits(spec: ExportSpec, settings: Settings) -> None:
    """A package-only template (gdpr) names no rows of its own: outside a subject package
    it would export everyone's rows with their identity columns kept. InvalidArgument on
    spec.template. Checked when one export is planned (a stored export of that kind,
    accepted before this check, fails rather than running)."""
    if spec.subject is None and spec.template:
        template = find_template(spec.template, settings)
        if template.package_only:
            raise InvalidArgument(
                "spec.template",
                f"template {quoted(template.name)} is for GDPR subject packages only "
                "(spec.subject: `sluice gdpr package --subject ID`); it keeps the identity "
                "columns of one person's rows",
            )


def with_template(spec: ExportSpec, settings: Settings) -> ExportSpec:
    """`spec` completed by its template; the spec itself when it names none."""
    if not spec.template:
        return spec
    template = find_template(spec.template, settings)
    output = OutputSpec(
        format=spec.output.format or template.format,
        compression=spec.output.compression or template.compression,
        level=spec.output.level if spec.output.level is not None else template.level,
    )
    source = spec.source
    if not (source.uri or source.name) and template.source_name:
        source = replace(source, name=template.source_name)
    redaction = spec.redaction
    if redaction == RedactionSpec() and template.redaction is not None:
        redaction = template.redaction
    encryption = spec.encryption
    if encryption == EncryptionSpec() and template.encryption is not None:
        if template.needs_recipients:
            raise FailedPrecondition(
                f"template {template.name}: the server has no backup_recipients to encrypt "
                "to; configure them, or give the request its own encryption"
            )
        encryption = template.encryption
    labels = dict(template.labels) | dict(spec.labels)
    return replace(
        spec,
        source=source,
        output=output,
        redaction=redaction,
        encryption=encryption,
        labels=tuple(sorted(labels.items())),
    )
