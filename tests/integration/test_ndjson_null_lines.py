"""An NDJSON file whose first line is `null`, through a real daemon: the line is a bad
line (skipped and counted under on_bad_rows "skip", named under "fail"), as it always
was. The field check once gave the block to pyarrow, which (26.0.1) crashes the process
on a block opening with `null`: the daemon died with SIGSEGV mid-export."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from sluice.client import ExportClient, ExportFailedError
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.integration.helpers import load_manifest, read_export

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, ExportClient]]:
    daemon = Daemon(root=tmp_path_factory.mktemp("ndjson-null") / "d")
    daemon.start()
    try:
        with ExportClient(daemon.address) as client:
            yield daemon, client
    finally:
        daemon.stop(timeout=20)


def test_a_null_first_line_is_a_bad_line_not_a_crash(world) -> None:  # type: ignore[no-untyped-def]
    daemon, client = world
    records = [{"id": i, "user": {"id": i, "name": f"n{i}"}} for i in range(200)]
    source = daemon.sources / "null-first.ndjson"
    source.write_text("null\n" + "".join(json.dumps(r) + "\n" for r in records))

    def spec(columns: list[str], on_bad_rows: str) -> pb.ExportSpec:
        return ExportClient.build_spec(  # type: ignore[arg-type]
            source=str(source), to=str(daemon.exports), dataset="null-first",
            format="parquet", columns=columns, on_bad_rows=on_bad_rows,
        )  # fmt: skip

    # Every column, and chosen columns with a struct: both read through the field check.
    for columns in ([], ["id", "user"]):
        done = client.wait(client.create(spec(columns, "skip")).id, timeout=180)
        assert done.state == pb.EXPORT_STATE_SUCCEEDED, done.error
        assert load_manifest(done.manifest_uri)["source"]["skipped_rows"] == 1
        assert read_export(done.manifest_uri).sort("id").to_dicts() == records

    with pytest.raises(ExportFailedError) as failed:
        client.wait(client.create(spec([], "fail")).id, timeout=180)
    error = failed.value.export.error
    assert error.code == "FAILED_PRECONDITION", error
    assert "null-first.ndjson: line 1 " in error.message, error.message
