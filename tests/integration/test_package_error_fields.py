"""A GDPR package's bad request names exactly the offending field: a part's error names
its source only when the source's data made it wrong (the subject id of that source's
column), never for what the request sets for the whole package (destination, output)."""

from __future__ import annotations

from pathlib import Path

import grpc
import polars as pl
import pytest

from sluice.v1 import export_pb2 as pb
from sluice.v1 import export_pb2_grpc
from tests.daemon import Daemon

pytestmark = pytest.mark.integration

GDPR = {
    "controller": "Example Ltd",
    "contact": "privacy@example.com",
    "purposes": "Testing.",
    "retention": "A day.",
    "recipients": "Nobody.",
}


@pytest.fixture
def package_daemon(daemon_factory, tmp_path: Path) -> Daemon:  # type: ignore[no-untyped-def]
    daemon: Daemon = daemon_factory(
        "packages", gdpr=GDPR, templates={"unsealed": {"description": "Left unencrypted"}}
    )
    daemon.sources.mkdir(parents=True, exist_ok=True)
    people = daemon.sources / "people.parquet"
    pl.DataFrame({"id": [1, 2], "user_id": [42, 7], "note": ["a", "b"]}).write_parquet(people)
    daemon.settings["sources"] = {"people": {"uri": str(people), "subject_column": "user_id"}}
    daemon.start()
    return daemon


def _package(daemon: Daemon, subject_id: str = "42", **output: str) -> pb.ExportSpec:
    spec = pb.ExportSpec(
        destination=pb.Destination(uri=str(daemon.exports), dataset="gdpr"),
        output=pb.Output(**output),
        template="unsealed",
    )
    spec.subject.subject_id = subject_id
    return spec


def test_package_errors_name_the_source_only_when_it_is_at_fault(package_daemon: Daemon) -> None:
    daemon = package_daemon
    outside = _package(daemon)
    outside.destination.uri = str(daemon.root / "elsewhere")
    cases = [
        (_package(daemon, compression="lz77"), "spec.output.compression", False),
        (_package(daemon, compression="gzip", level=99), "spec.output.level", False),
        (outside, "spec.destination.uri", False),
        (_package(daemon, subject_id="not-a-number"), "spec.subject.subject_id", True),
    ]
    with daemon.channel() as channel:
        stub = export_pb2_grpc.ExportServiceStub(channel)
        for spec, field, names_source in cases:
            with pytest.raises(grpc.RpcError) as caught:
                stub.CreateExport(pb.CreateExportRequest(spec=spec), timeout=30)
            details = caught.value.details()
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, details
            assert details.startswith(f"{field}: "), details
            assert ("source 'people'" in details) == names_source, details
