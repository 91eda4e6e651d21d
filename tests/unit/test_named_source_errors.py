"""A named source that cannot be planned: the caller never learns where it is. A field the
request set (format, order_by, ...) is the caller's to change (INVALID_ARGUMENT on it);
a fault of the configured location alone is the operator's (FAILED_PRECONDITION)."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
import pytest

from sluice.server.errors import FailedPrecondition, InvalidArgument
from sluice.server.planning.named_source_plan import is_configured_fault, named_source_error
from sluice.server.planning.spec import (
    DestinationSpec,
    ExportSpec,
    OutputSpec,
    SourceSpec,
    SubjectSpec,
)
from sluice.server.planning.subject_package import build_package_plan
from sluice.server.service.export_service import plan_export
from sluice.server.settings import Settings, load_settings


def _settings(root: Path) -> Settings:
    sources = root / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    (root / "exports").mkdir(exist_ok=True)
    pl.DataFrame({"id": [1, 2], "user_id": [42, 7]}).write_parquet(sources / "ev.parquet")
    return load_settings(
        None,
        {
            "state_dir": root / "state",
            "allowed_roots": [root / "exports"],
            "allowed_source_roots": [sources],
            "sources": {
                "ev": {"uri": str(sources / "ev.parquet"), "subject_column": "user_id"},
                "gone": {"uri": str(sources / "missing.parquet"), "subject_column": "user_id"},
            },
            "gdpr": {"controller": "Example Ltd", "contact": "privacy@example.com"},
        },
        environ={},
    )


def _plan(root: Path, source: SourceSpec) -> None:
    spec = ExportSpec(source=source, destination=DestinationSpec(str(root / "exports"), "d"))
    plan_export(spec, _settings(root), "x1", owner="")


def test_a_wrong_format_on_a_named_source_is_the_callers_field_without_the_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO), pytest.raises(InvalidArgument) as caught:
        _plan(tmp_path, SourceSpec("", name="ev", format="jsonl"))
    violation = caught.value.violations[0]
    assert violation.field == "spec.source.format"
    assert caught.value.message.endswith("named source 'ev' cannot be read as jsonl")
    assert str(tmp_path) not in caught.value.message
    assert "ev.parquet" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_missing_configured_file_is_the_servers_fault(tmp_path: Path) -> None:
    with pytest.raises(FailedPrecondition) as caught:
        _plan(tmp_path, SourceSpec("", name="gone"))
    assert caught.value.message == ("named source 'gone' cannot be read; the server log says why")


def test_a_source_wide_error_is_the_servers_unless_the_request_set_order_by() -> None:
    """Errors on spec.source as a whole (source.py: "table, query and order_by apply to
    databases"; a PostgreSQL connection) may come of the config or of the request."""
    error = InvalidArgument("spec.source", "table, query and order_by apply to databases")
    bare = SourceSpec("", name="pushed")
    assert is_configured_fault(error, bare)
    assert isinstance(named_source_error("pushed", error, bare), FailedPrecondition)
    ordered = named_source_error("pushed", error, SourceSpec("", name="pushed", order_by=("id",)))
    assert isinstance(ordered, InvalidArgument)
    assert ordered.violations[0].field == "spec.source.order_by"
    assert ordered.message.endswith("named source 'pushed' cannot be read ordered by id")


def test_a_package_part_of_an_unreadable_source_is_the_servers_fault(tmp_path: Path) -> None:
    spec = ExportSpec(
        source=SourceSpec(""),
        destination=DestinationSpec(str(tmp_path / "exports"), "gdpr"),
        subject=SubjectSpec("42", ("ev", "gone")),
        # As a request arrives: a package's format unset (spec_from_proto).
        output=OutputSpec(format="", compression=""),
    )
    with pytest.raises(FailedPrecondition) as caught:
        build_package_plan(spec, _settings(tmp_path), "x1", owner="")
    assert caught.value.message == ("named source 'gone' cannot be read; the server log says why")
