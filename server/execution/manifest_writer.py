"""Building an export's manifest from its plan and journalled chunks, and writing it:
last, atomically, never overwritten. Its presence is what commits an export; the model
and its JSON are the export format's (sluice.format.manifest)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sluice.format.content_digests import summary_algorithm
from sluice.format.manifest import (
    ContentDigest,
    IdsInfo,
    IncrementalInfo,
    Manifest,
    OutputInfo,
    QueryInfo,
    RedactionInfo,
    SchemaField,
    SourceInfo,
    TimeRangeInfo,
    Watermark,
    totals_of,
)
from sluice.format.stored_objects import ChunkEntry, DocumentEntry
from sluice.server.committed.manifests import read_manifest
from sluice.server.errors import DataLoss, FailedPrecondition, NotFound, quoted
from sluice.server.execution.key_changes import KeyedChanges, index_entry
from sluice.server.execution.masked_sql import masked_literals
from sluice.server.jobs.model import ChunkRecord
from sluice.server.pipeline.bad_rows import SKIPPED_ROWS
from sluice.server.pipeline.cursor_values import CursorValue, is_finite, later
from sluice.server.pipeline.encoders import arrow_schema
from sluice.server.pipeline.rows_without_cursor import ROWS_WITHOUT_CURSOR
from sluice.server.pipeline.stages import NO_CIPHER
from sluice.server.planning.plan import ExportPlan
from sluice.server.planning.watermarks import watermark_hides_a_card
from sluice.server.storage_errors import storage_errors
from sluice.sinks.base import Sink
from sluice.sinks.errors import ObjectExists


def build_manifest(
    plan: ExportPlan,
    chunks: Sequence[ChunkRecord],
    *,
    created_at: datetime,
    finished_at: datetime,
    digest_key_id: str,
    keyed: KeyedChanges | None = None,
    skipped_rows: int | None = None,
    rows_without_cursor: int | None = None,
    created_by: str = "",
    documents: tuple[DocumentEntry, ...] = (),
) -> Manifest:
    """The manifest of an export of `chunks`. `skipped_rows` counts the source rows left
    out as unparseable, `rows_without_cursor` those an increment could not send (None:
    those the chunks counted)."""
    spec = plan.spec
    if skipped_rows is None:
        skipped_rows = sum(dict(c.counters).get(SKIPPED_ROWS, 0) for c in chunks)
    if rows_without_cursor is None:
        rows_without_cursor = sum(dict(c.counters).get(ROWS_WITHOUT_CURSOR, 0) for c in chunks)
    query = spec.query
    increment = plan.increment
    # SQL text is recorded with its literals masked (they are often the values redaction
    # hides, `email = 'ann@example.com'`) under redaction, whichever exported columns its
    # rules fall on (a `where` may name a column the export leaves out), and under
    # encryption: the manifest and reports lie in the clear beside the sealed chunks, so
    # anyone who can list the folder would read whom the export is about. Ids are
    # recorded as a count alone. SQLite reads a double-quoted name of no column as a
    # string: masked too.
    sqlite_columns = plan.source_schema.names() if plan.source.format == "sqlite" else None
    masks_sql = plan.redactor.requested or plan.cipher.name != NO_CIPHER.name

    def sql_text(sql: str) -> str:
        if not masks_sql:
            return sql
        return masked_literals(sql, sqlite_columns=sqlite_columns)

    described = plan.source.describe()
    if spec.source.name:
        # A named source's location is the server's, hidden from callers (GetExport too):
        # the manifest records the name (source.name) instead.
        described["uri"] = ""
    if "query" in described:
        described["query"] = sql_text(described["query"])
    entries = tuple(_chunk_entry(c) for c in chunks)
    tombstones = keyed.tombstones.entry(increment.key) if keyed and keyed.tombstones else None
    # Named after the chunks' own digests: a run resumed across the change to BLAKE3 carries
    # journalled "hmac-sha256" chunks on, and says "mixed" rather than one of the two.
    digested = [e.content_digest for e in entries]
    if tombstones is not None:
        digested.append(tombstones.content_digest)
    return Manifest(
        created_by=created_by,
        export_id=plan.export_id,
        dataset=spec.destination.dataset,
        parent_export_id=increment.parent_export_id,
        created_at=created_at,
        finished_at=finished_at,
        source=SourceInfo(
            **described,
            on_bad_rows=plan.source.on_bad_rows,
            skipped_rows=skipped_rows,
            schema=plan.source.column_types,
            name=spec.source.name,
            template=spec.template,
        ),
        query=QueryInfo(
            columns=tuple(plan.query.columns),
            where=sql_text(query.where),
            time_range=None
            if query.time_range is None
            else TimeRangeInfo(
                query.time_range.column, query.time_range.since, query.time_range.until
            ),
            ids=IdsInfo(query.id_column, len(query.ids)) if query.ids else None,
        ),
        output=OutputInfo(
            format=plan.encoder.name,
            compression=plan.compressor.name,
            level=plan.level if plan.compressor.name != "none" else None,
            compression_applied="internal" if plan.encoder.internal_compression else "stream",
            encryption=plan.cipher.description,
        ),
        schema=schema_fields(plan),
        totals=totals_of(entries),
        watermark=next_watermark(plan, chunks),
        incremental=IncrementalInfo(
            mode=increment.mode,
            cursor=increment.cursor,
            since=increment.since,
            lookback_seconds=spec.incremental.lookback_seconds,
            key=increment.key,
            changes=keyed.counts if keyed else None,
            rows_without_cursor=rows_without_cursor,
        ),
        redaction=RedactionInfo(plan.redactor.describe(), _redaction_counts(chunks)),
        content_digest=ContentDigest(summary_algorithm(digested), digest_key_id),
        labels=spec.labels,
        key_index=index_entry(keyed, plan) if keyed else None,
        tombstones=tombstones,
        chunks=entries,
        documents=documents,
    )


def write_manifest(sink: Sink, key: str, manifest: Manifest) -> None:
    """Write the manifest atomically and only once. Finding one already there is fine
    when it commits the same chunks (a retry after a crash); otherwise it is data loss."""
    body = manifest.to_json()
    with storage_errors():
        writer = sink.create(key, overwrite=False)
        try:
            writer.write(body)
            writer.commit()
            return
        except ObjectExists:
            writer.abort()
    try:
        existing = read_manifest(sink, key)
    except NotFound:
        # Something the sink would not publish over, yet cannot read as an object (a
        # folder on a local destination): the commit is blocked, not a manifest missing.
        raise FailedPrecondition(
            f"cannot commit the export: {key} is taken by something that is not a "
            "manifest (a folder?); remove it, then resume the export"
        ) from None
    if _chunk_digests(existing) != _chunk_digests(manifest):
        raise DataLoss(f"a different manifest already commits {key}")


def _chunk_entry(chunk: ChunkRecord) -> ChunkEntry:
    return ChunkEntry(
        index=chunk.index,
        path=chunk.path,
        records=chunk.records,
        stored_bytes=chunk.stored_bytes,
        sha256=chunk.sha256,
        content_digest=chunk.content_digest,
        start_row=chunk.source_start,
        end_row=chunk.source_end,
    )


def _chunk_digests(manifest: Manifest) -> list[tuple[str, str]]:
    return [(c.path, c.sha256) for c in manifest.chunks]


def schema_fields(plan: ExportPlan) -> tuple[SchemaField, ...]:
    return tuple(
        SchemaField(field.name, str(field.type), field.nullable)
        for field in arrow_schema(plan.encoder.written_schema(plan.schema))
    )


def next_watermark(plan: ExportPlan, chunks: Sequence[ChunkRecord]) -> Watermark | None:
    """The largest cursor among the exported rows, never below the parent's (rows that
    committed late, or a look-back, can bring lower cursor values)."""
    if not plan.cursor:
        return None
    dtype = plan.source_schema[plan.cursor]
    value: CursorValue = None
    for chunk in chunks:
        # An earlier version journalled a float cursor's +inf (or NaN) as a chunk's
        # largest: never a watermark (and not JSON), see cursor_values.
        if is_finite(chunk.cursor_max):
            value = later(value, chunk.cursor_max, dtype)
    since = plan.increment.since
    if since is not None:
        value = later(value, since.value, dtype)
    if watermark_hides_a_card(plan.cursor_checks, value, dtype):
        # The card check nulled this value in the records; recorded as the watermark it
        # would be in clear. Known only now: an integer id is never a card, and a plan
        # refusing every integer cursor under strict would refuse ids.
        raise FailedPrecondition(
            f"the largest value of cursor column {quoted(plan.cursor)} is a card number, "
            "which redaction hides in the records and the watermark would record in clear; "
            "resuming reads the same rows and fails again: pick another cursor column, or "
            "keep this one with a rule (action keep), in a new export; "
            f"`sluice export delete {plan.export_id}` removes the chunks this one wrote"
        )
    return Watermark(plan.cursor, value, str(dtype))


def _redaction_counts(chunks: Sequence[ChunkRecord]) -> dict[str, dict[str, int]]:
    """Counters "rule/column" summed over chunks, as {rule: {column: count}}."""
    counts: dict[str, dict[str, int]] = {}
    for chunk in chunks:
        for key, value in chunk.counters:
            if key in {SKIPPED_ROWS, ROWS_WITHOUT_CURSOR}:
                continue  # the source's, in source.skipped_rows, incremental.rows_without_cursor
            rule, _, column = key.partition("/")
            per_rule = counts.setdefault(rule, {})
            per_rule[column] = per_rule.get(column, 0) + value
    return counts
