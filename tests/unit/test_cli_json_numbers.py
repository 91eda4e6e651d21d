"""The CLI's JSON prints 64-bit integers as numbers, everywhere a message is printed."""

from __future__ import annotations

import json

from sluice.client._convert import message_dict
from sluice.v1 import export_pb2 as pb


def test_int64_fields_are_numbers_at_every_depth() -> None:
    diff = pb.DiffExportsResponse(
        base_export_id="a",
        unchanged=2,
        added_bytes=2**53 + 1,  # beyond a double: still exact
        added=[pb.DiffChunk(path="part-000001.parquet", records=7, stored_bytes=99)],
    )
    value = json.loads(json.dumps(message_dict(diff, proto_names=True, with_defaults=True)))
    assert value["unchanged"] == 2
    assert value["added_bytes"] == 2**53 + 1
    assert value["removed_bytes"] == 0
    assert value["added"] == [{"path": "part-000001.parquet", "records": 7, "stored_bytes": 99}]


def test_maps_and_nested_messages_keep_numbers_and_json_names() -> None:
    export = pb.Export(
        id="x",
        progress=pb.Progress(records=5, counters={"redacted.EMAIL": 3}),
        spec=pb.ExportSpec(chunking=pb.Chunking(target_bytes=1 << 40)),
    )
    export.created_at.FromSeconds(0)
    value = message_dict(export)
    assert value["progress"] == {"records": 5, "counters": {"redacted.EMAIL": 3}}
    assert value["spec"]["chunking"]["targetBytes"] == 1 << 40
    assert value["createdAt"] == "1970-01-01T00:00:00Z"  # well-known types keep their form
