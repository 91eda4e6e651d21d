"""What an export report says, built from the export's manifest (and its parents'):
identity and request, source rows skipped (on_bad_rows "skip"), schema, totals, records
and bytes per chunk, redaction counts per rule, timings, and the chain of parents of an
incremental export."""

from __future__ import annotations

from dataclasses import dataclass

from sluice.format.manifest import Manifest


@dataclass(frozen=True)
class Table:
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class ChunkBar:
    index: int
    records: int
    stored_bytes: int


@dataclass(frozen=True)
class ReportModel:
    title: str
    export_id: str
    #: (label, value) pairs: who, what, when.
    summary: tuple[tuple[str, str], ...]
    tables: tuple[Table, ...]
    chunks: tuple[ChunkBar, ...]


def _skipped_rows(manifest: Manifest) -> tuple[tuple[str, str], ...]:
    """The source rows left out under on_bad_rows "skip" (none shown under "fail")."""
    if manifest.source.on_bad_rows != "skip":
        return ()
    return (("Source rows skipped (on_bad_rows skip)", f"{manifest.source.skipped_rows:,}"),)


def build_report(manifest: Manifest, parents: tuple[Manifest, ...]) -> ReportModel:
    """The report of `manifest`; `parents` is its chain, nearest parent first."""
    source = manifest.source
    output = manifest.output
    duration = ""
    if manifest.created_at and manifest.finished_at:
        duration = f"{(manifest.finished_at - manifest.created_at).total_seconds():.1f} s"
    summary = (
        ("Export", manifest.export_id),
        ("Dataset", manifest.dataset),
        ("Template", source.template or "none"),
        ("Source", source.name or source.uri),
        ("Source format", source.format),
        *_skipped_rows(manifest),
        ("Output", f"{output.format}, {output.compression} ({output.compression_applied})"),
        ("Encryption", output.encryption.scheme),
        ("Records", f"{manifest.totals.records:,}"),
        ("Chunks", f"{manifest.totals.chunks:,}"),
        ("Stored bytes", f"{manifest.totals.stored_bytes:,}"),
        ("Created", _time(manifest.created_at)),
        ("Finished", _time(manifest.finished_at)),
        ("Duration", duration),
        ("Incremental", manifest.incremental.mode),
        ("Parent", manifest.parent_export_id or "none"),
    )
    query = manifest.query
    request = Table(
        "Request",
        ("field", "value"),
        tuple(
            (k, v)
            for k, v in (
                ("columns", ", ".join(query.columns) or "all"),
                ("where", query.where),
                (
                    "time range",
                    ""
                    if query.time_range is None
                    else f"{query.time_range.column} (bounds sealed)"
                    if query.time_range.sealed
                    else f"{query.time_range.column} from {_time(query.time_range.since)} "
                    f"until {_time(query.time_range.until)}",
                ),
                ("redaction level", manifest.redaction.level or "none"),
                (
                    "labels",
                    "(sealed)"
                    if manifest.sealed_labels
                    else ", ".join(f"{k}={v}" for k, v in manifest.labels),
                ),
            )
            if v
        ),
    )
    schema = Table(
        "Schema",
        ("column", "type", "nullable"),
        tuple((f.name, f.type, "yes" if f.nullable else "no") for f in manifest.schema),
    )
    redaction = Table(
        "Redaction counts (records changed per rule and column)",
        ("rule", "column", "records"),
        tuple(
            (rule, column, f"{count:,}")
            for rule, per_column in sorted(manifest.redaction.counts.items())
            for column, count in sorted(per_column.items())
        ),
    )
    chunk_table = Table(
        "Chunks",
        ("chunk", "file", "records", "stored bytes", "sha256"),
        tuple(
            (str(c.index), c.path, f"{c.records:,}", f"{c.stored_bytes:,}", c.sha256[:16] + "…")
            for c in manifest.chunks
        ),
    )
    chain = Table(
        "Parent chain (nearest first)",
        ("export", "created", "records", "mode"),
        tuple(
            (p.export_id, _time(p.created_at), f"{p.totals.records:,}", p.incremental.mode)
            for p in parents
        ),
    )
    return ReportModel(
        title=f"Sluice export {manifest.export_id}",
        export_id=manifest.export_id,
        summary=summary,
        tables=tuple(t for t in (request, schema, chunk_table, redaction, chain) if t.rows),
        chunks=tuple(ChunkBar(c.index, c.records, c.stored_bytes) for c in manifest.chunks),
    )


def _time(value: object) -> str:
    return "" if value is None else str(value)
