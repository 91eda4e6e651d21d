"""Run a redaction spec over an in-memory frame, as the pipeline would."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from sluice.server.pipeline.source import ROW_INDEX
from sluice.server.pipeline.stages import Redactor
from sluice.server.planning.redaction_plan import build_redactor
from sluice.server.planning.spec import RedactionRuleSpec, RedactionSpec
from sluice.server.settings import Settings


def rule(spec: str) -> RedactionRuleSpec:
    """'column=notes:mask:4' or 'pattern=EMAIL:hash:key', as the CLI spells rules."""
    kind, _, rest = spec.partition("=")
    target, action, *extra = rest.split(":")
    options: dict[str, object] = {kind: target, "action": action}
    if extra:
        option = {"mask": "keep_last", "generalize": "granularity", "hash": "key"}[action]
        options[option] = int(extra[0]) if option == "keep_last" else extra[0]
    return RedactionRuleSpec(**options)  # type: ignore[arg-type]


def settings_with_keys(tmp_path: Path, **keys: bytes) -> Settings:
    refs = {}
    for name, secret in keys.items():
        path = tmp_path / f"{name}.key"
        path.write_bytes(secret)
        refs[name] = f"file:{path}"
    return Settings(hash_keys=refs)


def redactor_for(
    frame: pl.DataFrame, spec: RedactionSpec, settings: Settings | None = None
) -> Redactor:
    return build_redactor(spec, frame.schema, settings or Settings())


def run(
    frame: pl.DataFrame, spec: RedactionSpec, settings: Settings | None = None
) -> tuple[pl.DataFrame, dict[str, int]]:
    """The redacted frame (row index and counters removed) and the summed counters."""
    redactor = redactor_for(frame, spec, settings)
    out = redactor.apply(frame.with_row_index(ROW_INDEX).lazy()).collect()
    assert out.columns[0] == ROW_INDEX
    counts: dict[str, int] = {}
    for column, key in redactor.counters.items():
        total = int(out[column].cast(pl.UInt64).sum())
        if total:
            counts[key] = counts.get(key, 0) + total
    return out.drop(ROW_INDEX, *redactor.counters), counts


def masked(value: str, keep: int) -> str:
    """What `mask:keep` writes for `value` (actions.mask): a mask never shows more than
    it hides, the last min(keep, len // 2) characters, none where len <= keep."""
    shown = min(keep, len(value) // 2) if len(value) > keep else 0
    return "*" * (len(value) - shown) + value[len(value) - shown :]
