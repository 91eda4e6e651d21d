"""Dataset names, label keys and schedule names are matched whole: a pattern ending in
'$' under re.match let a trailing newline through ('events\\n' was a dataset, a folder
name with a newline; 'nightly\\n' a schedule, a line break in every log line naming it)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from sluice.server.errors import InvalidArgument
from sluice.server.planning.plan import check_dataset_name, is_dataset_name
from sluice.server.planning.spec import DestinationSpec, ExportSpec, SourceSpec
from sluice.server.service.export_service import plan_export
from sluice.server.service.schedule_service import check_schedule_name
from sluice.server.settings import load_settings


def test_a_dataset_with_a_trailing_newline_is_refused() -> None:
    assert is_dataset_name("events")
    assert not is_dataset_name("events\n")
    with pytest.raises(InvalidArgument) as caught:
        check_dataset_name("events\n", "spec.destination.dataset")
    assert caught.value.violations[0].field == "spec.destination.dataset"


def test_a_label_key_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    pl.DataFrame({"id": [1]}).write_parquet(tmp_path / "e.parquet")
    settings = load_settings(
        None,
        {
            "state_dir": tmp_path / "state",
            "allowed_roots": [tmp_path / "exports"],
            "allowed_source_roots": [tmp_path],
        },
        environ={},
    )
    spec = ExportSpec(
        source=SourceSpec(str(tmp_path / "e.parquet")),
        destination=DestinationSpec(str(tmp_path / "exports"), "d"),
        labels=(("team\n", "a"),),
    )
    with pytest.raises(InvalidArgument, match="keys are 1-63"):
        plan_export(spec, settings, "x1", owner="")
    plan_export(replace(spec, labels=(("team", "a"),)), settings, "x1", owner="")


def test_a_schedule_name_with_a_trailing_newline_is_refused() -> None:
    check_schedule_name("nightly")
    with pytest.raises(InvalidArgument) as caught:
        check_schedule_name("nightly\n")
    assert caught.value.violations[0].field == "name"
