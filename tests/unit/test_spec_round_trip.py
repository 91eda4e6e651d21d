"""An export spec survives proto -> domain -> proto whole: every field a request can set
comes back in GetExport and ListSchedules (a field left out of either direction is lost
silently, as source.name, template and report once were)."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from sluice.server.rpc.convert import spec_from_proto, spec_to_proto
from sluice.v1 import export_pb2 as pb


def _every_field_set() -> pb.ExportSpec:
    spec = pb.ExportSpec(
        source=pb.Source(
            format="parquet",
            profile="lake",
            on_bad_rows="skip",
            schema=[pb.ColumnType(name="id", type="int64")],
            order_by=["id"],
            name="applications",
        ),
        query=pb.Query(columns=["id", "at"], where="id > 1", ids=["7"], id_column="id"),
        output=pb.Output(format="csv", compression="gzip", level=6),
        chunking=pb.Chunking(target_bytes=1 << 20, max_rows=500),
        destination=pb.Destination(uri="/exports", dataset="apps", profile="store"),
        labels={"team": "a"},
        redaction=pb.Redaction(level="strict", include_pii=False),
        encryption=pb.Encryption(age_passphrase_ref="pass"),
        incremental=pb.Incremental(mode="incremental", cursor="at", lookback_seconds=60),
        notify=["ops"],
        template="sharing",
        report=True,
        subject=pb.SubjectPackage(subject_id="42", sources=["applications"]),
    )
    spec.query.time_range.column = "at"
    spec.query.time_range.since.CopyFrom(Timestamp(seconds=1_700_000_000))
    spec.query.time_range.until.CopyFrom(Timestamp(seconds=1_800_000_000))
    return spec


def test_every_request_field_comes_back() -> None:
    sent = _every_field_set()
    back = spec_to_proto(spec_from_proto(pb.CreateExportRequest(spec=sent)))
    assert back == sent


def test_the_round_trip_sets_every_field() -> None:
    """A new field of ExportSpec or Source must join the round trip above (this names it)."""
    sent = _every_field_set()
    for message in (sent, sent.source):
        set_here = {field.name for field, _ in message.ListFields()}
        every = {field.name for field in message.DESCRIPTOR.fields}
        # A source names either a location or a configured source: uri/table/query
        # stay empty beside `name` (spec_from_proto refuses both at once only later).
        assert every - set_here <= {"uri", "table", "query"}, every - set_here


def test_a_masks_zero_stays_apart_from_no_number_given() -> None:
    """`mask:0` masks every character; `mask` alone keeps the entity's default (CARD: 4)."""
    sent = pb.ExportSpec(
        redaction=pb.Redaction(
            level="strict",
            rules=[
                pb.RedactionRule(pattern="CARD", action="mask", keep_last=0),
                pb.RedactionRule(pattern="CARD", action="mask"),
            ],
        )
    )
    spec = spec_from_proto(pb.CreateExportRequest(spec=sent))
    assert spec.redaction is not None
    assert [r.keep_last for r in spec.redaction.rules] == [0, None]
    back = spec_to_proto(spec)
    assert [r.HasField("keep_last") for r in back.redaction.rules] == [True, False]
