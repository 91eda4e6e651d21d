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
from sluice.server.planning.plan import ExportPlan
from sluice.server.planning.spec import (
    DestinationSpec,
    ExportSpec,
    OutputSpec,
    SourceSpec,
    SubjectSpec,
)
from sluice.server.planning.subject_package import PackagePlan, build_package_plan
from sluice.server.service.export_service import plan_export
from sluice.server.settings import Settings, SettingsError, load_settings


def _settings(root: Path, **blob: str) -> Settings:
    """Sources `ev` (Parquet), `gone` (no file) and `blob` (JSON lines in a file without
    an extension, configured with `blob` besides its uri and subject column)."""
    sources = root / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    (root / "exports").mkdir(exist_ok=True)
    pl.DataFrame({"id": [1, 2], "user_id": [42, 7]}).write_parquet(sources / "ev.parquet")
    (sources / "blob").write_text('{"id": 1, "user_id": 42}\n{"id": 2, "user_id": 7}\n')
    return load_settings(
        None,
        {
            "state_dir": root / "state",
            "allowed_roots": [root / "exports"],
            "allowed_source_roots": [sources],
            "sources": {
                "ev": {"uri": str(sources / "ev.parquet"), "subject_column": "user_id"},
                "gone": {"uri": str(sources / "missing.parquet"), "subject_column": "user_id"},
                "blob": {"uri": str(sources / "blob"), "subject_column": "user_id", **blob},
            },
            "gdpr": {"controller": "Example Ltd", "contact": "privacy@example.com"},
        },
        environ={},
    )


def _plan(root: Path, source: SourceSpec, settings: Settings | None = None) -> None:
    spec = ExportSpec(source=source, destination=DestinationSpec(str(root / "exports"), "d"))
    plan_export(spec, settings or _settings(root), "x1", owner="")


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


def _package(root: Path, settings: Settings) -> PackagePlan:
    spec = ExportSpec(
        source=SourceSpec(""),
        destination=DestinationSpec(str(root / "exports"), "gdpr"),
        subject=SubjectSpec("42", ("blob",)),
        output=OutputSpec(format="", compression=""),
    )
    return build_package_plan(spec, settings, "x1", owner="")


def test_a_named_source_may_say_its_format_for_a_file_without_an_extension(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, format="ndjson")
    package = _package(tmp_path, settings)
    assert [part.plan.source.format for part in package.parts] == ["ndjson", "ndjson"]
    spec = ExportSpec(
        source=SourceSpec("", name="blob"),
        destination=DestinationSpec(str(tmp_path / "exports"), "d"),
    )
    plan = plan_export(spec, settings, "x2", owner="")
    assert isinstance(plan, ExportPlan)
    assert plan.source.format == "ndjson"


def test_a_configured_source_whose_format_cannot_be_told_is_the_servers_fault(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path)
    expected = (
        "named source 'blob' cannot be read: its format is not known from its file names "
        "or does not fit it; set format in the server config's [sources.blob] (the server "
        "log says why)"
    )
    with caplog.at_level(logging.INFO), pytest.raises(FailedPrecondition) as caught:
        _package(tmp_path, settings)
    assert caught.value.message == expected
    assert "cannot infer the source format" in caplog.text  # the operator's log says why
    with pytest.raises(FailedPrecondition) as plain:
        _plan(tmp_path, SourceSpec("", name="blob"), settings)
    assert plain.value.message == expected
    assert str(tmp_path) not in caught.value.message
    # The caller's own format still wins, and is still the caller's field.
    with pytest.raises(InvalidArgument) as wrong:
        _plan(tmp_path, SourceSpec("", name="blob", format="parquet"), settings)
    assert wrong.value.violations[0].field == "spec.source.format"


def test_an_unknown_configured_format_stops_the_server_naming_the_entry(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"sources\.blob\.format") as caught:
        _settings(tmp_path, format="xlsx")
    assert "parquet, csv, ndjson, jsonl, arrow, ipc" in str(caught.value)
