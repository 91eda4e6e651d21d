"""The hash key never appears in a query plan (which Polars prints in errors and explain),
in any form: raw, hex, or the HMAC pads derived from it."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import polars as pl

from sluice.server.pipeline.source import ROW_INDEX
from sluice.server.planning.spec import RedactionSpec
from tests.unit.redaction_helpers import redactor_for, rule, run, settings_with_keys

SECRET = b"correct horse battery staple 42!"


def _forms(secret: bytes) -> list[str]:
    padded = secret.ljust(64, b"\0")
    pads = [bytes(b ^ x for b in padded) for x in (0x36, 0x5C)]
    return [
        secret.decode(),
        secret.hex(),
        *(p.hex() for p in pads),
        *(p.hex().upper() for p in pads),
    ]


def test_no_form_of_the_key_reaches_the_plan(tmp_path: Path) -> None:
    frame = pl.DataFrame({"email": ["ana@example.com"], "notes": ["mail bob@example.org"]})
    settings = settings_with_keys(tmp_path, default=SECRET)
    spec = RedactionSpec(
        level="custom", rules=(rule("column=email:hash"), rule("pattern=EMAIL:hash"))
    )
    redactor = redactor_for(frame, spec, settings)
    plan = redactor.apply(frame.with_row_index(ROW_INDEX).lazy())
    printed = plan.explain() + str(plan)
    for form in _forms(SECRET):
        assert form not in printed

    out, _ = run(frame, spec, settings)
    expected = hmac.new(SECRET, b"ana@example.com", hashlib.sha256).hexdigest()
    assert out["email"][0] == expected  # still the real HMAC
