"""An NDJSON object in S3 (moto) with a field new inside a struct past the lines its
schema is inferred from, through a real daemon: the export fails naming the object, the
line and the field's dotted path (it was dropped without a word), and exports it once
its type is given in spec.source.schema."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from sluice.client import ExportClient, ExportFailedError
from sluice.v1 import export_pb2 as pb
from tests.integration.helpers import read_export
from tests.servers.cloud import ProfileDaemon, S3Store
from tests.servers.processes import ServerProcess

pytestmark = pytest.mark.integration

NEW_AT = 1500  # the line `user.email` first appears on


def _records() -> list[dict[str, object]]:
    return [
        {"id": i, "user": {"id": i, **({"email": f"u{i}@x.org"} if i >= NEW_AT - 1 else {})}}
        for i in range(3000)
    ]


@pytest.fixture(scope="module")
def store(moto_server: ServerProcess) -> S3Store:
    return S3Store(moto_server.endpoint, moto_server.endpoint)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, store: S3Store) -> Iterator[ProfileDaemon]:
    daemon = ProfileDaemon(
        root=tmp_path_factory.mktemp("ndjson-late-s3") / "d",
        profiles={"lake": store.profile},
        environment=store.environment,
    )
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop(timeout=20)


def test_a_field_new_inside_a_struct_of_an_s3_object_fails_or_is_declared(
    daemon: ProfileDaemon, store: S3Store
) -> None:
    records = _records()
    body = "".join(json.dumps(r) + "\n" for r in records).encode()
    store.client.put_object(Bucket=store.bucket, Key="src/users.ndjson", Body=body)
    source = f"s3://{store.bucket}/src/users.ndjson"

    def spec(**options: object) -> pb.ExportSpec:
        return ExportClient.build_spec(  # type: ignore[arg-type]
            source=source, source_profile="lake", to=str(daemon.exports), dataset="users",
            format="parquet", **options,
        )  # fmt: skip

    with ExportClient(daemon.address) as client:
        with pytest.raises(ExportFailedError) as failed:
            client.wait(client.create(spec()).id, timeout=180)
        error = failed.value.export.error
        assert error.code == "FAILED_PRECONDITION", error
        assert f"users.ndjson: line {NEW_AT} has a field 'user.email' " in error.message, error
        assert """'"user"."email":str'""" in error.message, error.message

        declared = {'"user"."email"': "str"}
        done = client.wait(client.create(spec(source_schema=declared)).id, timeout=180)
        assert done.state == pb.EXPORT_STATE_SUCCEEDED
        out = read_export(done.manifest_uri).sort("id")
        assert out["user"].to_list() == [
            {"id": r["id"], "email": r["user"].get("email")}  # type: ignore[union-attr]
            for r in records
        ]
