"""An unclosed quote in a CSV source, through a real daemon: the file fails naming the
line the quote opened on, under on_bad_rows "fail" and "skip" alike, rather than merging
the records after it into one value or skipping them as one bad row; the export
committed before stays as it was."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.client import ExportClient, ExportFailedError
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, run_cli
from tests.integration.helpers import load_manifest, read_export

pytestmark = pytest.mark.integration

ROWS = 3000


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, ExportClient]]:
    daemon = Daemon(root=tmp_path_factory.mktemp("csv-quotes") / "d")
    daemon.start()
    try:
        with ExportClient(daemon.address) as client:
            yield daemon, client
    finally:
        daemon.stop(timeout=20)


def _write(path: Path, columns: int, broken: dict[int, str]) -> Path:
    """ROWS records `i,row i[,i]`, the ones in `broken` replaced by their text."""
    header = "id,text" + (",n" if columns == 3 else "")
    lines = [header]
    for i in range(1, ROWS + 1):
        tail = f",{i}" if columns == 3 else ""
        lines.append(broken[i].format(i=i, tail=tail) if i in broken else f"{i},row {i}{tail}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _spec(daemon: Daemon, source: Path, dataset: str, **options: object) -> pb.ExportSpec:
    values: dict[str, object] = {
        "source": str(source),
        "to": str(daemon.exports),
        "dataset": dataset,
        "chunk_rows": 1000,
    }
    values.update(options)
    return ExportClient.build_spec(**values)  # type: ignore[arg-type]


def _failed(client: ExportClient, spec: pb.ExportSpec) -> pb.Export:
    with pytest.raises(ExportFailedError) as failed:
        client.wait(client.create(spec).id, timeout=120)
    return failed.value.export


def _cli(
    daemon: Daemon, source: Path, dataset: str, on_bad_rows: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    return run_cli(
        daemon,
        "export",
        "create",
        "--source",
        str(source),
        "--to",
        str(daemon.exports),
        "--dataset",
        dataset,
        "--chunk-rows",
        "1000",
        "--on-bad-rows",
        on_bad_rows,
        "--wait",
        *extra,
        timeout=120,
    )


@pytest.mark.parametrize("on_bad_rows", ["fail", "skip"])
@pytest.mark.parametrize("columns", [2, 3])
def test_a_quote_open_to_the_end_fails_the_file_and_keeps_the_last_export(
    world, columns: int, on_bad_rows: str
) -> None:  # type: ignore[no-untyped-def]
    # Before: in the last column the rest of the file became row 200's text (200 rows
    # exported, under either policy); in another column the row was malformed, and
    # "skip" exported 199 rows and counted one skipped.
    daemon, client = world
    dataset = f"open{columns}{on_bad_rows}"
    good = _write(daemon.sources / f"{dataset}.csv", columns, {})
    done = client.wait(client.create(_spec(daemon, good, dataset)).id, timeout=120)
    assert done.state == pb.EXPORT_STATE_SUCCEEDED
    before = read_export(done.manifest_uri)

    broken = _write(daemon.sources / f"{dataset}.csv", columns, {200: '{i},"oops{tail}'})
    result = _cli(daemon, broken, dataset, on_bad_rows)
    # The CLI's exit code of a failed export, and its one line (on stdout).
    assert result.returncode == 3, (result.stdout, result.stderr)
    message = result.stdout.strip()
    assert len(message.splitlines()) == 1 and "error FAILED_PRECONDITION" in message, message
    assert f"{dataset}.csv" in message and "line 201" in message, message
    assert "unclosed quote" in message and "row 201" not in message, message

    export = _failed(client, _spec(daemon, broken, dataset, on_bad_rows=on_bad_rows))
    assert export.error.code == "FAILED_PRECONDITION", export.error
    assert "line 201" in export.error.message and "oops" not in export.error.message
    # The export committed before is whole.
    assert read_export(done.manifest_uri).equals(before)
    assert before.height == ROWS


@pytest.mark.parametrize("on_bad_rows", ["fail", "skip"])
def test_a_quote_closed_thousands_of_lines_later_fails_the_file(world, on_bad_rows: str) -> None:  # type: ignore[no-untyped-def]
    # A stray quote at row 200 and a `6" screen` at row 2,500 that closes it: the 2,300
    # records between were one value of row 200, and the export succeeded.
    daemon, client = world
    source = _write(
        daemon.sources / f"closed{on_bad_rows}.csv",
        3,
        {200: '{i},"oops{tail}', 2500: '{i},6" screen{tail}'},
    )
    export = _failed(client, _spec(daemon, source, f"closed{on_bad_rows}", on_bad_rows=on_bad_rows))
    assert export.error.code == "FAILED_PRECONDITION", export.error
    message = export.error.message
    assert f"closed{on_bad_rows}.csv: line 201:" in message, message
    assert "not closed within 2301 lines" in message, message


def test_only_the_exported_columns_still_see_the_quote(world) -> None:  # type: ignore[no-untyped-def]
    # The merged value is in a column the export does not read: before, 200 ids.
    daemon, client = world
    source = _write(daemon.sources / "narrow.csv", 2, {200: '{i},"oops{tail}'})
    export = _failed(client, _spec(daemon, source, "narrow", columns=["id"]))
    assert export.error.code == "FAILED_PRECONDITION", export.error
    assert "narrow.csv: line 201:" in export.error.message, export.error.message


def test_a_quote_open_near_the_end_fails_the_file(world) -> None:  # type: ignore[no-untyped-def]
    daemon, client = world
    source = _write(daemon.sources / "late.csv", 2, {ROWS - 3: '{i},"oops{tail}'})
    export = _failed(client, _spec(daemon, source, "late", on_bad_rows="skip"))
    assert export.error.code == "FAILED_PRECONDITION", export.error
    message = export.error.message
    assert f"late.csv: line {ROWS - 2}:" in message, message
    assert "not closed before the end of the file" in message, message


def test_multi_line_values_and_a_short_open_quote_row_are_data_and_a_bad_row(world) -> None:  # type: ignore[no-untyped-def]
    # Addresses over three lines are values; a quote closed two lines later that leaves
    # its row malformed is one bad row: skipped and counted under "skip", named under
    # "fail" with the lines it spans.
    daemon, client = world
    source = _write(
        daemon.sources / "addresses.csv",
        3,
        {
            10: '{i},"1 Main St\nSpringfield\nUSA"{tail}',
            500: '{i},"short{tail}',
            502: '{i},closes" here',
        },
    )
    result = _cli(daemon, source, "addresses", "skip", "--json")
    assert result.returncode == 0, result.stderr
    finished = json.loads(result.stdout)
    out = read_export(finished["manifest_uri"])
    kept = [i for i in range(1, ROWS + 1) if i not in (500, 501, 502)]
    assert out["id"].to_list() == kept
    assert out.filter(out["id"] == 10)["text"].item() == "1 Main St\nSpringfield\nUSA"
    assert load_manifest(finished["manifest_uri"])["source"]["skipped_rows"] == 1

    export = _failed(client, _spec(daemon, source, "addresses"))
    assert export.error.code == "FAILED_PRECONDITION", export.error
    message = export.error.message
    assert "addresses.csv" in message and "expected 3" in message, message
    assert "it spans 3 lines" in message, message
