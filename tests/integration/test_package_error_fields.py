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
    photos = daemon.sources / "photos.parquet"
    pl.DataFrame({"user_id": [42], "photo": [b"\x89PNG"]}).write_parquet(photos)
    daemon.settings["sources"] = {
        "people": {"uri": str(people), "subject_column": "user_id"},
        "photos": {"uri": str(photos), "subject_column": "user_id"},
    }
    daemon.start()
    return daemon


def _package(
    daemon: Daemon,
    subject_id: str = "42",
    sources: tuple[str, ...] = ("people",),
    rules: tuple[pb.RedactionRule, ...] = (),
    **output: str,
) -> pb.ExportSpec:
    spec = pb.ExportSpec(
        destination=pb.Destination(uri=str(daemon.exports), dataset="gdpr"),
        output=pb.Output(**output),
        template="unsealed",
        redaction=pb.Redaction(rules=rules),
    )
    spec.subject.subject_id = subject_id
    spec.subject.sources.extend(sources)
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
        # The source's data: a caller cannot set a package's format, so a column the
        # package formats cannot write is the source's, named.
        (_package(daemon, sources=("photos",)), "spec.output.format", True),
        # A rule that names a column the source does not have: the source's data.
        (
            _package(daemon, rules=(pb.RedactionRule(column="ssn", action="mask"),)),
            "spec.redaction.rules[0]",
            True,
        ),
        # A rule wrong whatever the data (granularity without generalize): the request's.
        (
            _package(
                daemon,
                sources=("people", "photos"),
                rules=(pb.RedactionRule(column="note", action="mask", granularity="year"),),
            ),
            "spec.redaction.rules[0]",
            False,
        ),
    ]
    with daemon.channel() as channel:
        stub = export_pb2_grpc.ExportServiceStub(channel)
        for spec, field, names_source in cases:
            with pytest.raises(grpc.RpcError) as caught:
                stub.CreateExport(pb.CreateExportRequest(spec=spec), timeout=30)
            details = caught.value.details()
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, details
            assert details.startswith(f"{field}: "), details
            assert ("source '" in details) == names_source, details
