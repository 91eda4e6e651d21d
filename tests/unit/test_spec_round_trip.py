"""An export spec survives proto -> domain -> proto whole: every field a request can set
comes back in GetExport and ListSchedules (a field left out of either direction is lost
silently, as source.name, template and report once were)."""

from __future__ import annotations

from dataclasses import replace

from google.protobuf.timestamp_pb2 import Timestamp

from sluice.server.planning.spec import ExportSpec, RedactionRuleSpec, RedactionSpec
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


#: A spec as stored before keep_last could be told from "not given" (main at d521e2f):
#: 0 there meant "not given", CARD's mask kept its last 4.
_STORED_BEFORE_KEEP_LAST_GIVEN = (
    '{"chunking":{"max_rows":null,"target_bytes":null},"destination":{"dataset":"ds",'
    '"profile":"","uri":"/out"},"encryption":{"age_passphrase_ref":"","age_recipients":[],'
    '"zip_password_ref":""},"incremental":{"cursor":"","key":[],"lookback_seconds":0,'
    '"mode":"full"},"labels":[],"output":{"compression":"zstd","format":"jsonl","level":null},'
    '"query":{"columns":[],"id_column":"id","ids":[],"time_range":null,"where":""},'
    '"redaction":{"include_pii":null,"level":"strict","policy":"","rules":[{"action":"mask",'
    '"column":"","granularity":"","keep_last":0,"key":"","pattern":"CARD"},{"action":"hash",'
    '"column":"","granularity":"","keep_last":0,"key":"","pattern":"EMAIL"},{"action":"mask",'
    '"column":"notes","granularity":"","keep_last":3,"key":"","pattern":""}]},'
    '"source":{"format":"","profile":"","uri":"/d/x.parquet"}}'
)


def test_specs_stored_before_keep_their_meaning_json_and_fingerprint() -> None:
    stored = ExportSpec.from_json(_STORED_BEFORE_KEEP_LAST_GIVEN)
    assert stored.redaction is not None
    assert [r.keep_last for r in stored.redaction.rules] == [None, None, 3]
    # Stored again (a resume, a schedule's next run) and retried: the same JSON, so the
    # same request fingerprint, and an older replica reads it as before.
    assert stored.to_json() == _STORED_BEFORE_KEEP_LAST_GIVEN
    retried = replace(
        stored,
        redaction=RedactionSpec(
            level="strict",
            rules=(
                RedactionRuleSpec(pattern="CARD", action="mask"),
                RedactionRuleSpec(pattern="EMAIL", action="hash"),
                RedactionRuleSpec(column="notes", action="mask", keep_last=3),
            ),
        ),
    )
    assert retried.fingerprint() == stored.fingerprint()
    # A 0 given is stored apart, and read back as given.
    zero = replace(
        stored,
        redaction=RedactionSpec(
            level="strict", rules=(RedactionRuleSpec(pattern="CARD", action="mask", keep_last=0),)
        ),
    )
    assert ExportSpec.from_json(zero.to_json()) == zero
    assert (
        zero.fingerprint()
        != replace(
            zero,
            redaction=RedactionSpec(level="strict", rules=(RedactionRuleSpec("", "CARD", "mask"),)),
        ).fingerprint()
    )
