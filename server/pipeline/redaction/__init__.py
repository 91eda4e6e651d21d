"""The redaction stage: privacy levels, PII and secret detection, keyed pseudonyms, all
as Polars expressions on the lazy frame. A `PolicyRedactor` applies a `RedactionPolicy`
bound to the exported schema; planning.redaction_plan builds both from the request."""

from __future__ import annotations

from sluice.server.pipeline.redaction.policy import RedactionPolicy
from sluice.server.pipeline.redaction.redactor import PolicyRedactor

__all__ = ["PolicyRedactor", "RedactionPolicy"]
