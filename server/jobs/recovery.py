"""Opening the job store at start, and rebuilding a lost one from storage.

A job store that is missing or empty in a state folder that was used before (it holds
keys) has been lost: starting empty would drop the export history and request_id
idempotency without a word, so retried clients would create duplicates. The daemon
refuses to start then, unless told to recover (`--recover-job-store`): the committed
exports found under the local export roots (their manifest.json) come back as succeeded
jobs, with what the manifest records of their request.

Manifests do not record request ids, so idempotency of requests made before the loss
is not restored; nor do they record encryption recipients or storage profile names.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from sluice.format.layout import MANIFEST_NAME, export_folder, manifest_key
from sluice.format.manifest import Manifest
from sluice.format.stored_objects import ChunkEntry
from sluice.server.committed.manifests import read_manifest
from sluice.server.committed.sealed_values import (
    ValueSealer,
    daemon_sealer,
    opened_labels,
    opened_time_range,
    opened_watermark,
    watermark_place,
)
from sluice.server.errors import FailedPrecondition, SluiceError
from sluice.server.jobs.model import ChunkRecord, Job, JobFilter, JobState, Progress
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.jobs.store import JobStore
from sluice.server.pipeline.redaction.entities import LEVELS
from sluice.server.planning.spec import (
    DestinationSpec,
    ExportSpec,
    IncrementalSpec,
    OutputSpec,
    QuerySpec,
    RedactionSpec,
    SourceSpec,
    TimeRange,
)
from sluice.server.settings import Settings
from sluice.sinks.local import LocalSink

_log = logging.getLogger("sluice.jobs")
#: Sidecar files SQLite keeps beside the store; a lost store's are set aside, never
#: replayed over a fresh one.
_SIDECARS = ("-wal", "-shm")


def open_job_store(settings: Settings) -> JobStore:
    """The daemon's job store (`job_store`: SQLite by default, or PostgreSQL), migrated to
    this binary's schema. Raises FailedPrecondition, naming the store, when it is
    unreadable, newer than this binary, or (SQLite) lost while `recover_job_store` is off.
    Several daemons may share a PostgreSQL store (replicas); a SQLite one belongs to the
    daemon holding its state folder (server/state_lock.py). What the jobs of exports
    deleted before stores forgot still hold is forgotten here (forget_deleted)."""
    if settings.job_store_kind == "postgresql":
        store = _open_postgres(settings)
    else:
        store = _open_sqlite(settings)
    try:
        forgotten = store.forget_deleted()
    except BaseException:
        store.close()
        raise
    if forgotten:
        _log.info(
            "job store: %d export(s) deleted by an earlier version still held values a"
            " delete forgets now (request values, label values or error messages);"
            " forgotten (JobStore.mark_deleted)",
            forgotten,
        )
    return store


def _open_sqlite(settings: Settings) -> JobStore:
    path = settings.job_store_path
    lost = _is_lost(path)
    if lost and not settings.recover_job_store and _used_before(settings.state_dir):
        raise FailedPrecondition(
            f"job store {path} is missing or empty, but state folder {settings.state_dir}"
            " was used before (it holds keys); starting empty would lose the export"
            " history and request_id idempotency. Start with --recover-job-store to"
            " rebuild it from the manifests under the export roots"
        )
    if lost:
        _set_aside_sidecars(path)
    store = SQLiteJobStore(path)
    if lost and settings.recover_job_store:
        try:
            restored = recover_jobs(store, settings.export_roots, daemon_sealer(settings))
        except BaseException:
            store.close()
            raise
        _log.warning(
            "job store %s rebuilt from manifests: %d committed export(s) restored", path, restored
        )
    elif settings.recover_job_store:
        _log.info("job store %s is intact; nothing to recover", path)
    return store


def _open_postgres(settings: Settings) -> JobStore:
    # Imported here: psycopg is needed only by daemons configured for PostgreSQL.
    from sluice.server.jobs.postgres import PostgresJobStore, options_from_settings

    store = PostgresJobStore(
        settings.job_store,
        options=options_from_settings(settings),
        pool_size=settings.job_store_pool_size,
    )
    if settings.recover_job_store:
        # A database holds no keys to tell "lost" from "new": recover into an empty one.
        try:
            if store.list(JobFilter(), page_size=1).jobs:
                _log.info("job store %s is not empty; nothing to recover", store.name)
            else:
                restored = recover_jobs(store, settings.export_roots, daemon_sealer(settings))
                _log.warning(
                    "job store %s rebuilt from manifests: %d committed export(s) restored",
                    store.name,
                    restored,
                )
        except BaseException:
            store.close()
            raise
    return store


def recover_jobs(
    store: JobStore, roots: tuple[Path, ...], sealer: ValueSealer | None = None
) -> int:
    """Insert a succeeded job for every committed export under `roots` that the store
    does not know; returns how many. Unreadable manifests are logged and skipped. An
    encrypted export's sealed labels and time range bounds are opened with `sealer`
    (the daemon's content-digest key); left out when they do not open, and then a
    WARNING says that the encrypted chains cannot continue under this key."""
    restored = 0
    sealed_elsewhere: list[str] = []
    for root in roots:
        for destination, dataset, export_id in _manifest_folders(root):
            key = manifest_key(export_folder(dataset, export_id))
            try:
                manifest, opens = _opened(read_manifest(LocalSink(destination), key), sealer)
                job, chunks = job_from_manifest(manifest, destination, key)
            except (SluiceError, ValueError) as exc:
                reason = exc.message if isinstance(exc, SluiceError) else repr(exc)
                _log.warning("not restoring %s/%s: %s", destination, key, reason)
                continue
            if job.id != export_id or job.spec.destination.dataset != dataset:
                _log.warning("not restoring %s/%s: it names another export", destination, key)
                continue
            if not opens:
                sealed_elsewhere.append(f"{dataset}/{export_id}")
            if store.restore(job, chunks):
                restored += 1
    if sealed_elsewhere:
        _log.warning(
            "%d encrypted export(s) were sealed under another content-digest key than this "
            "daemon's (a lost state folder makes a new one; e.g. %s): their chains cannot "
            "continue, an increment on them fails FAILED_PRECONDITION. Configure the "
            "content_digest_key they were written with, or make the next export of each "
            "dataset with --mode full",
            len(sealed_elsewhere),
            ", ".join(sealed_elsewhere[:3]),
        )
    return restored


def _opened(manifest: Manifest, sealer: ValueSealer | None) -> tuple[Manifest, bool]:
    """`manifest` with its sealed labels and time range bounds opened, when they are and
    `sealer` opens them (else without them: the export is restored all the same), and
    whether its sealed values open (False: sealed under another content-digest key)."""
    if sealer is None or not manifest.holds_sealed_values:
        return manifest, True
    try:
        opened_watermark(
            manifest.watermark, sealer, watermark_place(manifest.export_id, manifest.dataset)
        )
        labels = opened_labels(manifest, sealer)
        time_range = opened_time_range(manifest, sealer)
    except SluiceError as exc:
        _log.warning(
            "export %s restored without its labels and time range: %s",
            manifest.export_id,
            exc.message,
        )
        unsealed = manifest.query.time_range
        if unsealed is not None and unsealed.sealed:
            # Its column alone would read as a range without bounds: all rows.
            unsealed = None
        query = replace(manifest.query, time_range=unsealed)
        return replace(manifest, sealed_labels="", query=query), False
    query = replace(manifest.query, time_range=time_range)
    return replace(manifest, labels=labels, query=query), True


def job_from_manifest(
    manifest: Manifest, destination: Path, key: str
) -> tuple[Job, list[ChunkRecord]]:
    """A succeeded job as far as the manifest tells it (ValueError when a field it needs
    is missing or malformed)."""
    created_at = _time(manifest.created_at, "created_at")
    finished_at = _time(manifest.finished_at, "finished_at")
    if not manifest.export_id or not manifest.dataset:
        raise ValueError("the manifest names no export id or dataset")
    chunks = [_chunk(entry, finished_at) for entry in manifest.chunks]
    totals = manifest.totals
    job = Job(
        id=manifest.export_id,
        spec=_spec(manifest, destination),
        state=JobState.SUCCEEDED,
        created_at=created_at,
        updated_at=finished_at,
        finished_at=finished_at,
        progress=Progress(
            records=totals.records, chunks=totals.chunks, stored_bytes=totals.stored_bytes
        ),
        manifest_uri=f"{LocalSink(destination).uri.rstrip('/')}/{key}",
        created_by=manifest.created_by,
    )
    return job, chunks


def _spec(manifest: Manifest, destination: Path) -> ExportSpec:
    query = manifest.query
    output = manifest.output
    incremental = manifest.incremental
    redaction_level = manifest.redaction.level
    time_range = query.time_range
    return ExportSpec(
        # A named source's manifest records its name, not its (hidden) location. Older
        # manifests recorded both: a spec names one, the name (the location stays hidden).
        source=SourceSpec(
            uri="" if manifest.source.name else manifest.source.uri,
            format=manifest.source.format,
            name=manifest.source.name,
        ),
        destination=DestinationSpec(uri=str(destination), dataset=manifest.dataset),
        query=QuerySpec(
            columns=query.columns,
            where=query.where,
            time_range=None
            if time_range is None
            else TimeRange(
                column=time_range.column,
                since=_optional_time(time_range.since, "query.time_range.since"),
                until=_optional_time(time_range.until, "query.time_range.until"),
            ),
            # Only the count of ids is recorded, not the ids.
            id_column=(query.ids.column if query.ids else "") or "id",
        ),
        output=OutputSpec(format=output.format, compression=output.compression, level=output.level),
        labels=tuple(sorted(manifest.labels)),
        # A named level is enough to tell the policy; custom rules are described, not kept.
        redaction=RedactionSpec(level=redaction_level if redaction_level in LEVELS else ""),
        incremental=IncrementalSpec(
            mode=incremental.mode,
            cursor=incremental.cursor,
            lookback_seconds=incremental.lookback_seconds,
            key=incremental.key,
        ),
    )


def _chunk(entry: ChunkEntry, committed_at: datetime) -> ChunkRecord:
    return ChunkRecord(
        index=entry.index,
        path=entry.path,
        records=entry.records,
        stored_bytes=entry.stored_bytes,
        sha256=entry.sha256,
        content_digest=entry.content_digest,
        source_start=entry.start_row,
        source_end=entry.end_row,
        committed_at=committed_at,
    )


def _manifest_folders(root: Path) -> Iterator[tuple[Path, str, str]]:
    """(destination, dataset, export_id) of every <destination>/<dataset>/<export_id>/
    manifest.json under root, in path order. Symbolic links are not followed."""
    real_root = Path(os.path.realpath(root))
    for folder, subfolders, files in os.walk(real_root):
        subfolders.sort()
        here = Path(folder)
        if MANIFEST_NAME in files and here.parent.parent.is_relative_to(real_root):
            # An export folder holds files only; nothing below it is another export.
            subfolders.clear()
            yield here.parent.parent, here.parent.name, here.name


def _is_lost(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except FileNotFoundError:
        return True


def _used_before(state_dir: Path) -> bool:
    keys = state_dir / "keys"
    try:
        return any(keys.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return False


def _set_aside_sidecars(path: Path) -> None:
    """Rename a lost store's WAL and shared-memory files, so SQLite never applies the old
    database's log to a new one; kept for inspection."""
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    for suffix in _SIDECARS:
        sidecar = path.with_name(path.name + suffix)
        if sidecar.exists():
            sidecar.rename(sidecar.with_name(f"{sidecar.name}.lost-{stamp}"))


def _time(value: datetime | None, name: str) -> datetime:
    if value is None:
        raise ValueError(f"the manifest has no {name}")
    if value.tzinfo is None:
        raise ValueError(f"{name} {value.isoformat()!r} has no timezone")
    return value


def _optional_time(value: datetime | None, name: str) -> datetime | None:
    return None if value is None else _time(value, name)
