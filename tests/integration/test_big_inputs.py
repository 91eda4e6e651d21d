"""Inputs that are valid in shape but big or odd (deep nesting, a line without an end,
a huge CSV field, a compressed file under a plain name): each is refused early, with
the caller's status and in our words, or exported; none takes the daemon's memory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.client import ExportClient, ExportFailedError, InvalidArgumentError
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, ExportClient]]:
    daemon = Daemon(root=tmp_path_factory.mktemp("big-inputs") / "d")
    daemon.start()
    try:
        with ExportClient(daemon.address) as client:
            yield daemon, client
    finally:
        daemon.stop(timeout=20)


def _spec(daemon: Daemon, source: Path) -> pb.ExportSpec:
    return ExportClient.build_spec(
        source=str(source), to=str(daemon.exports), dataset=source.stem.replace(".", "_")
    )


def _refused(client: ExportClient, spec: pb.ExportSpec) -> str:
    with pytest.raises(InvalidArgumentError) as refused:
        client.create(spec)
    assert [v.field for v in refused.value.violations] == ["spec.source.uri"]
    return refused.value.message


def _failed(client: ExportClient, spec: pb.ExportSpec) -> pb.Export:
    with pytest.raises(ExportFailedError) as failed:
        client.wait(client.create(spec).id, timeout=120)
    return failed.value.export


def _deep(depth: int) -> object:
    value: object = "v"
    for _ in range(depth):
        value = {"a": value, "b": [1]}
    return value


def test_deeply_nested_records_are_refused_at_planning(world) -> None:  # type: ignore[no-untyped-def]
    # 40 levels: tens of KB here, but reading such rows took the daemon's memory by GBs.
    daemon, client = world
    source = daemon.sources / "deep.ndjson"
    source.write_text("".join(json.dumps({"id": i, "d": _deep(40)}) + "\n" for i in range(10)))
    message = _refused(client, _spec(daemon, source))
    assert "'d'" in message and "nests 41 levels" in message and "16" in message, message
    assert daemon.healthy()


def test_nesting_within_the_limit_is_exported(world) -> None:  # type: ignore[no-untyped-def]
    daemon, client = world
    source = daemon.sources / "shallow.ndjson"
    source.write_text("".join(json.dumps({"id": i, "d": _deep(15)}) + "\n" for i in range(10)))
    done = client.wait(client.create(_spec(daemon, source)).id, timeout=120)
    assert done.state == pb.EXPORT_STATE_SUCCEEDED and done.progress.records == 10
