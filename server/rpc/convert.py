"""Translation between the wire messages (sluice.v1) and domain objects. No logic here
beyond shape: validation lives in server.plan."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from sluice.server.errors import InvalidArgument
from sluice.server.jobs.model import (
    ChunkRecord,
    ExportAttempt,
    Job,
    JobState,
    NotificationDelivery,
)
from sluice.server.notifications.targets import shown
from sluice.server.planning.plain_request import TextPlan
from sluice.server.planning.spec import (
    ChunkingSpec,
    DestinationSpec,
    EncryptionSpec,
    ExportSpec,
    IncrementalSpec,
    OutputSpec,
    QuerySpec,
    RedactionRuleSpec,
    RedactionSpec,
    SourceSpec,
    SubjectSpec,
    TimeRange,
)
from sluice.server.service.events import (
    ChunkCommitted,
    Finished,
    JobEvent,
    LiveProgress,
    ProgressUpdated,
    Snapshot,
    StateChanged,
)
from sluice.server.service.server_info import ServerInfo
from sluice.server.service.source_catalog import SourceListing
from sluice.server.templates import Template
from sluice.v1 import export_pb2 as pb

_log = logging.getLogger("sluice.rpc")

STATE_TO_PROTO = {
    JobState.QUEUED: pb.EXPORT_STATE_QUEUED,
    JobState.RUNNING: pb.EXPORT_STATE_RUNNING,
    JobState.SUCCEEDED: pb.EXPORT_STATE_SUCCEEDED,
    JobState.FAILED: pb.EXPORT_STATE_FAILED,
    JobState.CANCELLED: pb.EXPORT_STATE_CANCELLED,
    JobState.DELETED: pb.EXPORT_STATE_DELETED,
}
STATE_FROM_PROTO = {number: state for state, number in STATE_TO_PROTO.items()}


def spec_from_proto(request: pb.CreateExportRequest) -> ExportSpec:
    if not request.HasField("spec"):
        raise InvalidArgument("spec", "is required")
    message = request.spec
    query = message.query
    time_range = None
    if query.HasField("time_range"):
        time_range = TimeRange(
            column=query.time_range.column,
            since=_time(query.time_range.since) if query.time_range.HasField("since") else None,
            until=_time(query.time_range.until) if query.time_range.HasField("until") else None,
        )
    # With a template or a subject package, an unset format or compression stays unset:
    # the template's wins, and a package writes JSON and CSV.
    unset_output = bool(message.template) or message.HasField("subject")
    return ExportSpec(
        source=SourceSpec(
            uri=message.source.uri,
            format=message.source.format,
            profile=message.source.profile,
            on_bad_rows=message.source.on_bad_rows,
            schema=tuple((column.name, column.type) for column in message.source.schema),
            table=message.source.table,
            query=message.source.query,
            order_by=tuple(message.source.order_by),
            name=message.source.name,
        ),
        destination=DestinationSpec(
            uri=message.destination.uri,
            dataset=message.destination.dataset,
            profile=message.destination.profile,
        ),
        query=QuerySpec(
            columns=tuple(query.columns),
            where=query.where,
            time_range=time_range,
            ids=tuple(query.ids),
            id_column=query.id_column or "id",
        ),
        output=OutputSpec(
            format=message.output.format or ("" if unset_output else "jsonl"),
            compression=message.output.compression or ("" if unset_output else "zstd"),
            level=message.output.level if message.output.HasField("level") else None,
        ),
        chunking=ChunkingSpec(
            target_bytes=message.chunking.target_bytes
            if message.chunking.HasField("target_bytes")
            else None,
            max_rows=message.chunking.max_rows if message.chunking.HasField("max_rows") else None,
        ),
        labels=tuple(sorted(message.labels.items())),
        redaction=_redaction_from_proto(message.redaction),
        encryption=_encryption_from_proto(message),
        incremental=IncrementalSpec(
            mode=message.incremental.mode or "full",
            cursor=message.incremental.cursor,
            lookback_seconds=message.incremental.lookback_seconds,
            key=tuple(message.incremental.key),
        ),
        notify=tuple(message.notify),
        template=message.template,
        report=message.report,
        subject=SubjectSpec(message.subject.subject_id, tuple(message.subject.sources))
        if message.HasField("subject")
        else None,
    )


def _encryption_from_proto(message: pb.ExportSpec) -> EncryptionSpec:
    """The request's encryption; InvalidArgument for a secret's name that is present but
    empty. A library caller who set a secret's name to "" (an empty variable) asked for
    encryption: reading that as "none" would store plaintext. An Encryption message with
    nothing in it is "no encryption": clients before `optional` names (build_spec, the
    CLI's export/schedule/gdpr commands, Flight JSON `"encryption": {}`) always sent one,
    and a pre-upgrade client retrying with the same request id must still be answered."""
    encryption = message.encryption
    unset = ", or leave it unset for no encryption"
    if encryption.HasField("age_passphrase_ref") and not encryption.age_passphrase_ref.strip():
        raise InvalidArgument(
            "spec.encryption.age_passphrase_ref", f"is set but empty: name a server secret{unset}"
        )
    if encryption.HasField("zip_password_ref") and not encryption.zip_password_ref.strip():
        raise InvalidArgument(
            "spec.encryption.zip_password_ref", f"is set but empty: name a server secret{unset}"
        )
    if message.HasField("encryption") and encryption == pb.Encryption():
        # Names nothing of the request: the caller's message is all the log needs.
        _log.warning(
            "spec.encryption is set but empty (a client older than field presence sends "
            "it for no encryption): read as no encryption; upgrade the client"
        )
    return EncryptionSpec(
        age_recipients=tuple(encryption.age_recipients),
        age_passphrase_ref=encryption.age_passphrase_ref,
        zip_password_ref=encryption.zip_password_ref,
    )


def _encryption_to_proto(encryption: EncryptionSpec) -> pb.Encryption | None:
    """None for no encryption: an Encryption message is only sent when it names something
    (an empty one, which old clients send, is read back as no encryption with a warning)."""
    if encryption == EncryptionSpec():
        return None
    message = pb.Encryption(age_recipients=encryption.age_recipients)
    if encryption.age_passphrase_ref:
        message.age_passphrase_ref = encryption.age_passphrase_ref
    if encryption.zip_password_ref:
        message.zip_password_ref = encryption.zip_password_ref
    return message


def _redaction_from_proto(message: pb.Redaction) -> RedactionSpec:
    return RedactionSpec(
        level=message.level,
        policy=message.policy,
        rules=tuple(
            RedactionRuleSpec(
                column=rule.column,
                pattern=rule.pattern,
                action=rule.action,
                keep_last=rule.keep_last if rule.HasField("keep_last") else None,
                granularity=rule.granularity,
                key=rule.key,
            )
            for rule in message.rules
        ),
        include_pii=message.include_pii if message.HasField("include_pii") else None,
    )


def _redaction_to_proto(spec: RedactionSpec) -> pb.Redaction:
    message = pb.Redaction(
        level=spec.level,
        policy=spec.policy,
        rules=[
            pb.RedactionRule(
                column=r.column,
                pattern=r.pattern,
                action=r.action,
                keep_last=r.keep_last,
                granularity=r.granularity,
                key=r.key,
            )
            for r in spec.rules
        ],
    )
    if spec.include_pii is not None:
        message.include_pii = spec.include_pii
    return message


def spec_to_proto(spec: ExportSpec) -> pb.ExportSpec:
    message = pb.ExportSpec(
        source=pb.Source(
            uri=spec.source.uri,
            format=spec.source.format,
            profile=spec.source.profile,
            on_bad_rows=spec.source.on_bad_rows,
            schema=[pb.ColumnType(name=name, type=kind) for name, kind in spec.source.schema],
            table=spec.source.table,
            query=spec.source.query,
            order_by=list(spec.source.order_by),
            name=spec.source.name,
        ),
        destination=pb.Destination(
            uri=spec.destination.uri,
            dataset=spec.destination.dataset,
            profile=spec.destination.profile,
        ),
        query=pb.Query(
            columns=spec.query.columns,
            where=spec.query.where,
            ids=spec.query.ids,
            id_column=spec.query.id_column,
        ),
        output=pb.Output(format=spec.output.format, compression=spec.output.compression),
        chunking=pb.Chunking(
            target_bytes=spec.chunking.target_bytes, max_rows=spec.chunking.max_rows
        ),  # None leaves an optional field unset
        labels=dict(spec.labels),
        redaction=_redaction_to_proto(spec.redaction),
        encryption=_encryption_to_proto(spec.encryption),
        incremental=pb.Incremental(
            mode=spec.incremental.mode,
            cursor=spec.incremental.cursor,
            lookback_seconds=spec.incremental.lookback_seconds,
            key=spec.incremental.key,
        ),
        # As GetExport shows deliveries: a URL's query, fragment or user info may be
        # the receiver's token, which only the notifier needs.
        notify=[shown(target) for target in spec.notify],
        template=spec.template,
        report=spec.report,
    )
    if spec.subject is not None:
        message.subject.subject_id = spec.subject.subject_id
        message.subject.sources.extend(spec.subject.sources)
    if spec.output.level is not None:
        message.output.level = spec.output.level
    if spec.query.time_range is not None:
        message.query.time_range.column = spec.query.time_range.column
        if spec.query.time_range.since is not None:
            message.query.time_range.since.CopyFrom(_timestamp(spec.query.time_range.since))
        if spec.query.time_range.until is not None:
            message.query.time_range.until.CopyFrom(_timestamp(spec.query.time_range.until))
    return message


def job_to_proto(job: Job, live: LiveProgress | None = None) -> pb.Export:
    progress = live.progress if live is not None else job.progress
    message = pb.Export(
        id=job.id,
        request_id=job.request_id,
        state=STATE_TO_PROTO[job.state],
        spec=spec_to_proto(job.spec),
        progress=pb.Progress(
            records=progress.records,
            chunks=progress.chunks,
            stored_bytes=progress.stored_bytes,
            source_rows_done=progress.source_rows_done,
            source_rows_total=progress.source_rows_total,
            records_per_second=live.records_per_second if live else 0.0,
            bytes_per_second=live.bytes_per_second if live else 0.0,
            eta_seconds=live.eta_seconds if live else -1.0,
            counters=dict(progress.counters),
        ),
        created_at=_timestamp(job.created_at),
        manifest_uri=job.manifest_uri,
        created_by=job.created_by,
        replica=job.replica,
        values_forgotten=job.values_forgotten,
    )
    if job.started_at is not None:
        message.started_at.CopyFrom(_timestamp(job.started_at))
    if job.finished_at is not None:
        message.finished_at.CopyFrom(_timestamp(job.finished_at))
    if job.error is not None:
        message.error.CopyFrom(
            pb.ExportError(
                code=job.error.code, message=job.error.message, transient=job.error.transient
            )
        )
    message.notifications.extend(delivery_to_proto(d) for d in job.notifications)
    message.attempts.extend(attempt_to_proto(a) for a in job.attempts)
    return message


def attempt_to_proto(attempt: ExportAttempt) -> pb.ExportAttempt:
    message = pb.ExportAttempt(
        number=attempt.number,
        replica=attempt.replica,
        started_at=_timestamp(attempt.started_at),
        outcome=attempt.outcome.value,
    )
    if attempt.ended_at is not None:
        message.ended_at.CopyFrom(_timestamp(attempt.ended_at))
    if attempt.error is not None:
        message.error.CopyFrom(
            pb.ExportError(
                code=attempt.error.code,
                message=attempt.error.message,
                transient=attempt.error.transient,
            )
        )
    if attempt.retry_at is not None:
        message.retry_at.CopyFrom(_timestamp(attempt.retry_at))
    return message


def delivery_to_proto(delivery: NotificationDelivery) -> pb.NotificationDelivery:
    message = pb.NotificationDelivery(
        target=shown(delivery.target),
        state=delivery.state.value,
        attempts=delivery.attempts,
        last_error=delivery.last_error,
        delivery_id=delivery.delivery_id,
    )
    if delivery.last_attempt_at is not None:
        message.last_attempt_at.CopyFrom(_timestamp(delivery.last_attempt_at))
    if delivery.next_attempt_at is not None:
        message.next_attempt_at.CopyFrom(_timestamp(delivery.next_attempt_at))
    return message


def progress_to_proto(live: LiveProgress) -> pb.Progress:
    return pb.Progress(
        records=live.progress.records,
        chunks=live.progress.chunks,
        stored_bytes=live.progress.stored_bytes,
        source_rows_done=live.progress.source_rows_done,
        source_rows_total=live.progress.source_rows_total,
        records_per_second=live.records_per_second,
        bytes_per_second=live.bytes_per_second,
        eta_seconds=live.eta_seconds,
        counters=dict(live.progress.counters),
    )


def chunk_to_proto(chunk: ChunkRecord) -> pb.ChunkInfo:
    return pb.ChunkInfo(
        index=chunk.index,
        path=chunk.path,
        records=chunk.records,
        stored_bytes=chunk.stored_bytes,
        sha256=chunk.sha256,
    )


def event_to_proto(event: JobEvent) -> pb.ExportEvent:
    message = pb.ExportEvent(time=_timestamp(event.time), export_id=event.job_id)
    if isinstance(event, Snapshot):
        message.snapshot.CopyFrom(job_to_proto(event.job, event.live))
    elif isinstance(event, StateChanged):
        message.state_changed = STATE_TO_PROTO[event.state]
    elif isinstance(event, ProgressUpdated):
        message.progress.CopyFrom(progress_to_proto(event.live))
    elif isinstance(event, ChunkCommitted):
        message.chunk_committed.CopyFrom(chunk_to_proto(event.chunk))
    elif isinstance(event, Finished):
        message.finished.CopyFrom(job_to_proto(event.job))
    return message


def server_info_to_proto(info: ServerInfo) -> pb.ServerInfo:
    message = pb.ServerInfo(
        version=info.version,
        manifest_signing_public_key=info.signing_public_key,
        manifest_signing_key_id=info.signing_key_id,
        manifest_verification_public_keys=info.verification_public_keys,
        formats=info.formats,
        compressions=info.compressions,
        encryption_schemes=info.encryption_schemes,
        job_store=info.job_store,
        principal=info.principal,
        replica_id=info.replica_id,
    )
    if info.tls_not_after is not None:
        message.tls_certificate_not_after.FromDatetime(info.tls_not_after)
    return message


def sources_to_proto(listings: Sequence[SourceListing]) -> pb.ListSourcesResponse:
    return pb.ListSourcesResponse(
        sources=[
            pb.NamedSource(
                name=s.name,
                description=s.description,
                time_column=s.time_column,
                subject_column=s.subject_column,
                id_column=s.id_column,
                columns=[pb.ColumnType(name=n, type=t) for n, t in s.columns],
                error=s.error,
            )
            for s in listings
        ]
    )


def templates_to_proto(found: Sequence[Template]) -> pb.ListTemplatesResponse:
    return pb.ListTemplatesResponse(
        templates=[
            pb.ExportTemplate(
                name=t.name, description=t.description, builtin=t.builtin, sets=t.sets()
            )
            for t in found
        ]
    )


def states_from_proto(values: list[int]) -> frozenset[JobState]:
    states = set()
    for value in values:
        state = STATE_FROM_PROTO.get(value)  # type: ignore[call-overload]
        if state is None:
            raise InvalidArgument("states", f"unknown export state {value}")
        states.add(state)
    return frozenset(states)


def _time(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def text_plan_to_proto(plan: TextPlan) -> pb.PlanFromTextResponse:
    spec = pb.ExportSpec(
        output=pb.Output(format=plan.format),
        destination=pb.Destination(dataset=plan.source_name),
    )
    if plan.privacy:
        spec.redaction.level = plan.privacy
    # Only what the request asked for: an Encryption message naming nothing is refused.
    if plan.age_recipients:
        spec.encryption.age_recipients.extend(plan.age_recipients)
    if plan.passphrase_secret:
        spec.encryption.age_passphrase_ref = plan.passphrase_secret
    if plan.since is not None or plan.until is not None:
        spec.query.time_range.SetInParent()
        if plan.since is not None:
            spec.query.time_range.since.CopyFrom(_timestamp(plan.since))
        if plan.until is not None:
            spec.query.time_range.until.CopyFrom(_timestamp(plan.until))
    return pb.PlanFromTextResponse(
        spec=spec,
        unparsed_words=plan.unparsed,
        schedule_cron=plan.schedule,
        source_name=plan.source_name,
        template=plan.template,
        report=plan.report,
        encryption=plan.encryption,
        understood=plan.understood,
    )
