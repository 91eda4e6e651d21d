"""A request's `template` applied: the spec the rest of planning sees has the template's
values wherever the request left a field unset. The request wins: output format,
compression and level each; the source (a uri or a name) as a whole; redaction and
encryption as a whole (a request with any redaction or encryption of its own keeps only
its own); labels by key."""

from __future__ import annotations

from dataclasses import replace

from sluice.server.errors import FailedPrecondition, InvalidArgument, quoted
from sluice.server.planning.spec import EncryptionSpec, ExportSpec, OutputSpec, RedactionSpec
from sluice.server.settings import Settings
from sluice.server.templates import Template, templates


def find_template(name: str, settings: Settings) -> Template:
    known = templates(settings.templates, settings.backup_recipients)
    template = known.get(name)
    if template is None:
        raise InvalidArgument(
            "spec.template", f"no template named {quoted(name)} (known: {', '.join(known)})"
        )
    return template


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
