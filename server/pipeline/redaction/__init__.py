"""The redaction stage: privacy levels, PII and secret detection, keyed pseudonyms, all
as Polars expressions on the lazy frame. `build_redactor` is the only entry point."""

from __future__ import annotations

import polars as pl

from sluice.server.pipeline.redaction.policy import RedactionPolicy, resolve_policy
from sluice.server.pipeline.redaction.redactor import PolicyRedactor
from sluice.server.pipeline.stages import NoRedaction, Redactor
from sluice.server.planning.spec import RedactionSpec
from sluice.server.settings import Settings

__all__ = ["PolicyRedactor", "RedactionPolicy", "build_redactor", "resolve_policy"]


def build_redactor(spec: RedactionSpec, schema: pl.Schema, settings: Settings) -> Redactor:
    """Validate the request's redaction against the exported `schema` (raising
    InvalidArgument or FailedPrecondition naming the rule) and bind it to that schema."""
    policy = resolve_policy(spec, settings)
    if policy.level == "none" and not spec.rules and not spec.policy:
        return NoRedaction()
    return PolicyRedactor(policy, schema)
