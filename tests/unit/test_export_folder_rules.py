"""The planner's export-folder rule on its own: a segment that an object store or file
system may read as an export id (Azure Blob drops a segment's trailing dots; Windows a
trailing dot or space; `\\` separates folders there) is refused as the id itself is."""

from __future__ import annotations

import pytest

from sluice.server.errors import InvalidArgument
from sluice.server.planning.export_folder_rules import check_outside_export_folders

ID = "20260101T000000Z-abcdef012345"


@pytest.mark.parametrize(
    "destination",
    [
        f"az://c/shared/big/{ID}",
        f"az://c/shared/big/{ID}.",
        f"az://c/shared/big/{ID}..",
        f"abfs://c@acct.dfs.core.windows.net/shared/big/{ID}.",
        f"s3://b/shared/big/{ID} ",
        f"s3://b/shared/big/{ID}\\",
        f"s3://b/shared\\big\\{ID}",
        f"s3://b/shared\\big\\{ID}.\\x",
        f"/e/shared/big/{ID.upper()}.",
        f"/e/shared/big/{ID}x",
    ],
)
def test_a_destination_segment_starting_like_an_export_id_is_refused(destination: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        check_outside_export_folders(destination, "x")
    assert [v.field for v in refused.value.violations] == ["spec.destination.uri"]


@pytest.mark.parametrize(
    "dataset", [ID, f"{ID}.", f"{ID} ", f"{ID}\\", f"{ID}.csv", f"a\\{ID}", f"a/{ID}."]
)
def test_a_dataset_starting_like_an_export_id_is_refused(dataset: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        check_outside_export_folders("az://c/shared", dataset)
    assert [v.field for v in refused.value.violations] == ["spec.destination.dataset"]


@pytest.mark.parametrize(
    ("destination", "dataset"),
    [
        ("az://c/shared/big", "report.daily"),
        ("az://c/shared/big", "20261207"),
        (f"az://c/shared/x{ID}", "big"),
        ("/e/shared/20260101T000000Z", "big"),
    ],
)
def test_names_near_the_rule_still_pass(destination: str, dataset: str) -> None:
    check_outside_export_folders(destination, dataset)
