"""Running one export job: plan, resume point, pipeline, manifest, final state.

The job store is the journal: a chunk counts once `record_chunk` returned, and a
resumed job continues after its last journalled chunk. Every journal write passes the
run's lease, so a replica that lost it (another one took the job over) fails its next
write with LeaseLost and stops; it then touches nothing of the export, not even the
uploads it had open, which the new holder continues or sweeps.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from sluice.format.layout import signature_key
from sluice.server.committed.sealed_values import (
    ValueSealer,
    sealed_chain_values,
    sealed_manifest,
)
from sluice.server.errors import (
    Interrupted,
    LeaseLost,
    SluiceError,
    Unavailable,
    as_domain_error,
)
from sluice.server.execution.documents import store_document, write_documents
from sluice.server.execution.fenced_writes import store_fenced, store_whole
from sluice.server.execution.journalled_chunks import require_journalled_chunks
from sluice.server.execution.key_changes import (
    KeyedChanges,
    chain_index_keys,
    detect_changes,
)
from sluice.server.execution.manifest_writer import build_manifest, write_manifest
from sluice.server.execution.open_uploads import (
    abort_journalled_uploads,
    abort_stray_uploads,
    discard_uploads,
    remove_stale_temporaries,
)
from sluice.server.execution.package_facts import journalled_package
from sluice.server.execution.package_manifest import (
    build_package_manifest,
    is_sealed,
    part_starts,
)
from sluice.server.execution.run_facts import (
    check_same,
    fingerprint_key_id,
    pinned_facts,
    redaction_facts,
    save_facts,
    source_facts,
)
from sluice.server.execution.run_start import plan_run, source_rows
from sluice.server.execution.signing import load_signer
from sluice.server.execution.subject_readme import render_readme, sealed_readme
from sluice.server.jobs.increment_chains import chain_tip, check_one_increment
from sluice.server.jobs.model import ChunkRecord, Job, JobState, Lease, Progress
from sluice.server.jobs.store import JobStore
from sluice.server.keyindex.digests import IndexKeys
from sluice.server.pipeline.bad_rows import SKIPPED_ROWS
from sluice.server.pipeline.export import PipelineOptions, ResumePoint, run_pipeline
from sluice.server.pipeline.rows_without_cursor import ROWS_WITHOUT_CURSOR
from sluice.server.pipeline.stages import NO_CIPHER
from sluice.server.pipeline.stopping import ExportStop, cancel, keeps_uploads
from sluice.server.pipeline.stream_source import INBOXES
from sluice.server.planning.plan import ExportPlan, plan_destination
from sluice.server.planning.subject_package import PackagePlan
from sluice.server.service.events import ChunkCommitted, EventHub, LiveProgress, ProgressUpdated
from sluice.server.settings import Settings
from sluice.server.storage_errors import storage_errors
from sluice.server.telemetry import NO_TELEMETRY, ExportTelemetry, report_safely
from sluice.server.tracing import export_span
from sluice.sinks.base import Sink, UploadJournal, join_key
from sluice.sinks.errors import JournalRefused, ObjectNotFound
from sluice.sinks.profiles import AzureProfile, S3Profile

_log = logging.getLogger("sluice.export")
_PUBLISH_EVERY = 0.25
_SAVE_EVERY = 2.0


class SinkOpener(Protocol):
    def __call__(self, uri: str, *, profile: S3Profile | AzureProfile | None = None) -> Sink: ...


@dataclass(frozen=True)
class ExecutionContext:
    settings: Settings
    store: JobStore
    hub: EventHub
    open_sink: SinkOpener
    content_key: bytes
    content_key_id: str
    #: Base key of key indexes (server.key_changes.index_base_key).
    index_key: bytes
    #: Where committed chunks and finished exports are reported (metrics).
    telemetry: ExportTelemetry = NO_TELEMETRY


def execute(
    job: Job, context: ExecutionContext, stop: threading.Event, lease: Lease | None = None
) -> str:
    """Run `job` to completion under `lease` and return its manifest URI. Raises
    SluiceError (Interrupted when `stop` is set; an ExportStop set by a shutdown leaves
    the upload of the chunk in flight open and journalled, for the next run to continue;
    LeaseLost when another replica took the job over)."""
    settings = context.settings
    try:
        # Before planning: the parent it finds must be the last one committed.
        # Transient when refused: nothing is written yet, so the run is retried after
        # the normal backoff and then continues the parent the other one committed.
        check_one_increment(
            context.store,
            job.spec,
            job.created_by,
            job_id=job.id,
            states={JobState.RUNNING},
            at_run=True,
        )
        # A resume continues by row position, against what its first run found
        # (run_facts), and reads the source as that run did: pinned before planning.
        chunks = list(context.store.chunks(job.id))
        pinned = pinned_facts(context.store, job.id, chunks)
        offsets_as_utc = pinned is None or pinned.offsets_utc
        tip = chain_tip(context.store, job.spec, job.created_by)
        # The content-digest key the daemon loaded at start opens an encrypted parent's
        # watermark, the key its manifests are sealed with (never resolved again here).
        planned = plan_run(
            job,
            settings,
            stop,
            offsets_as_utc=offsets_as_utc,
            chain_tip=tip,
            sealer=ValueSealer(context.content_key),
        )
    except Interrupted:
        # A cancel discards what earlier runs left open, as the cancel of a queued
        # export does, while the lease is still held.
        if not keeps_uploads(stop) and _still_held(context, lease):
            discard_open_uploads(job, context, lease)
        raise
    if isinstance(planned, PackagePlan):
        return _execute_package(job, context, stop, lease, planned)
    plan = planned
    if plan.source.stream is not None:
        INBOXES.inbox(job.id, plan.source.stream.inflight_batches).bind_stop(stop)
    with storage_errors():
        sink = context.open_sink(plan.destination, profile=plan.destination_profile)
    try:
        # A resume continues after its journalled chunks: they must be stored where this
        # run writes (another replica may have written them elsewhere).
        require_journalled_chunks(sink, plan.prefix, chunks, job.id)
        # A resume continues by row position, against the parent and the key pass of
        # its first run: it must find them as that run did (run_facts), redacting as
        # it did.
        facts = replace(
            source_facts(plan.source, plan.increment.parent_export_id or ""),
            redaction=redaction_facts(plan.redactor.describe()),
        )
        if not chunks:
            # Pins the parent (run_facts.increments_on) before anything is read, its key
            # index included: `export delete` refuses it from now on. Saved again once
            # complete (the key pass's fingerprint, the key id), before the first chunk.
            save_facts(context.store, job.id, facts, lease)
        total = source_rows(plan, settings, stop)
    except BaseException as exc:  # the count's own failures are logged, not raised
        _after_failure(exc, job, context, stop, lease, sink, plan.prefix)
        raise
    resume = ResumePoint.after(chunks, total)
    # Only the next chunk's upload can be continued; any other one is aborted now. A run
    # that stalled before this (storage, the job store, a slow count) may have lost its
    # lease meanwhile: the uploads and temporaries are then the new holder's, so the
    # lease is renewed first (LeaseLost) and nothing of theirs is touched.
    keep = plan.pipeline.chunk_key(resume.next_index)
    _renew(context, lease)
    abort_journalled_uploads(sink, job.id, context.store, keep=keep, lease=lease)
    if chunks:
        _log.info(
            "export %s resumes after chunk %d (row %d)", job.id, chunks[-1].index, resume.from_row
        )
    # Every run, not only resumes: a kill during chunk 0 journals nothing, yet leaves its
    # temporary file. No writer of this export is active before the run starts (the
    # lease was renewed above).
    remove_stale_temporaries(sink, plan.prefix)
    reporter = _ProgressReporter(
        job.id, job.spec.destination.dataset, context, resume.totals, stop, lease
    )
    options = _pipeline_options(settings, context)
    try:
        # A manifest already there (a job store behind its storage: restored from a
        # backup, say) names every chunk: other bytes under a chunk's key are then
        # corruption, never replaced as stale.
        options = replace(options, replace_stale_chunks=not _committed(sink, plan))
        by_key = bool(plan.increment.key)
        key_id = _fingerprint_key_id(context) if by_key else context.content_key_id
        facts = replace(facts, key_id=key_id)
        check_same(pinned, facts, job.id, keyed=by_key, sources=[plan.source])
        keyed = None
        if by_key:
            # Compared before the key index and tombstones are stored: a refused resume
            # replaces nothing of what its first run stored.
            def same_rows(fingerprint: str) -> None:
                check_same(pinned, replace(facts, keys=fingerprint), job.id, keyed=True)

            keys = chain_index_keys(plan, context.index_key, job.created_by, pinned=pinned)
            with export_span("export.key_index"):
                keyed = _index_keys(plan, keys, sink, context, stop, lease, same_rows)
            facts = replace(facts, keys=keyed.fingerprint, index_key_version=keys.version)
        if not chunks:
            save_facts(context.store, job.id, facts, lease)
        selection = keyed.selection if keyed else None
        with export_span("export.pipeline", resume_after_chunks=len(chunks)):
            totals = run_pipeline(plan.pipeline, sink, resume, reporter, stop, options, selection)
        reporter.finished(totals)
    except BaseException as exc:
        _after_failure(exc, job, context, stop, lease, sink, plan.prefix)
        raise
    _before_manifest(context, stop, lease)
    with export_span("export.manifest"):
        counters = dict(totals.counters)
        # A keyed export's pass reads only the rows its key pass selected: that pass
        # read them all, and counted.
        without_cursor = (
            keyed.rows_without_cursor if keyed else counters.get(ROWS_WITHOUT_CURSOR, 0)
        )
        if without_cursor:
            _log.warning(
                "export %s: %d rows have no cursor value in %s (null, NaN or infinite); "
                "no increment sends them (manifest incremental.rows_without_cursor)",
                job.id,
                without_cursor,
                plan.cursor,
            )
        skipped = counters.get(SKIPPED_ROWS, 0)
        return _commit(plan, sink, job, context, keyed, skipped, without_cursor, lease)


def _execute_package(
    job: Job,
    context: ExecutionContext,
    stop: threading.Event,
    lease: Lease | None,
    package: PackagePlan,
) -> str:
    """Run a GDPR subject package: its parts one after the other into one export (chunk
    numbers continue from part to part), then its README and manifest."""
    first = package.first
    with storage_errors():
        sink = context.open_sink(first.destination, profile=first.destination_profile)
    chunks = list(context.store.chunks(job.id))
    try:  # as in execute: the sources as the first run found them, or refused
        require_journalled_chunks(sink, first.prefix, chunks, job.id)
        facts = journalled_package(context.store, job.id, chunks, package)
    except BaseException as exc:
        _after_failure(exc, job, context, stop, lease, sink, first.prefix)
        raise
    starts = part_starts(package, chunks)
    totals = ResumePoint.after(chunks).totals
    keep = package.parts[starts[0][0]].plan.pipeline.chunk_key(len(chunks)) if starts else ""
    _renew(context, lease)  # as in execute: a run that lost its lease touches nothing
    abort_journalled_uploads(sink, job.id, context.store, keep=keep, lease=lease)
    if chunks:
        _log.info("subject package %s resumes after chunk %d", job.id, chunks[-1].index)
    remove_stale_temporaries(sink, first.prefix)
    reporter = _ProgressReporter(job.id, job.spec.destination.dataset, context, totals, stop, lease)
    options = _pipeline_options(context.settings, context)
    try:
        # As in execute: a manifest already there names every chunk.
        options = replace(options, replace_stale_chunks=not _committed(sink, first))
        if not chunks:
            save_facts(context.store, job.id, facts, lease)
        for number, start in starts:
            part = package.parts[number]
            resume = replace(start, next_index=totals.chunks, totals=totals)
            with export_span("export.pipeline", part=part.source_name, format=part.format):
                totals = run_pipeline(part.plan.pipeline, sink, resume, reporter, stop, options)
    except BaseException as exc:
        _after_failure(exc, job, context, stop, lease, sink, first.prefix)
        raise
    _before_manifest(context, stop, lease)
    with export_span("export.manifest"):
        manifest = build_package_manifest(
            package,
            context.store.chunks(job.id),
            created_at=job.created_at,
            finished_at=datetime.now(UTC),
            digest_key_id=context.content_key_id,
            digest_key=context.content_key,
            created_by=job.created_by,
        )
        if is_sealed(package):  # its labels, as an encrypted export's (see _commit)
            manifest = sealed_manifest(manifest, ValueSealer(context.content_key))
        if not _committed(sink, first):
            name, media_type, readme = sealed_readme(
                first.pipeline, render_readme(package, manifest)
            )
            documents = (
                store_document(
                    sink, first.prefix, name, media_type, readme, lambda: _renew(context, lease)
                ),
            )
            manifest = replace(manifest, documents=documents)
        _renew(context, lease)  # as in _commit
        _write_signature(
            first, sink, manifest.to_json(), context.settings, lambda: _renew(context, lease)
        )
        write_manifest(sink, first.manifest_key, manifest)
        _seal_signature(first, sink, context.settings)
        abort_stray_uploads(sink, first.prefix, quietly=True)
        return f"{sink.uri.rstrip('/')}/{first.manifest_key}"


def _pipeline_options(settings: Settings, context: ExecutionContext) -> PipelineOptions:
    return PipelineOptions(
        batch_rows=settings.batch_rows,
        queue_depth=settings.pipeline_queue_depth,
        zstd_threads=settings.zstd_threads,
        content_key=context.content_key,
        queue_bytes=settings.pipeline_queue_bytes,
    )


def _after_failure(
    exc: BaseException,
    job: Job,
    context: ExecutionContext,
    stop: threading.Event,
    lease: Lease | None,
    sink: Sink,
    prefix: str,
) -> None:
    """Clean up after a failed or interrupted run, unless the uploads are someone
    else's now (lost lease) or kept for the next run (shutdown)."""
    if _lost(exc, stop) or not _still_held(context, lease):
        # The new holder owns the journal and the open uploads now.
        _log.warning(
            "export %s: lease lost (or not confirmable); stopped without cleaning up",
            job.id,
        )
    elif isinstance(exc, Interrupted) and keeps_uploads(stop):
        _log.info("export %s suspended; its open upload continues on the next run", job.id)
    else:
        discard_uploads(sink, job.id, context.store, prefix, lease)


def _before_manifest(context: ExecutionContext, stop: threading.Event, lease: Lease | None) -> None:
    if stop.is_set():
        raise Interrupted("export interrupted before its manifest was written")
    # The manifest commits the export: fenced like a journal write, as close to it as
    # the store allows (the sink cannot take part in the store's transaction). A cancel
    # the renewal reports (requested on another replica) wins, as it does at a chunk.
    if _renew(context, lease):
        cancel(stop)
        raise Interrupted("export cancelled before its manifest was written")


def _renew(context: ExecutionContext, lease: Lease | None) -> bool:
    """Renew the run's lease (LeaseLost when another replica holds it now); True when a
    cancel of the export is requested in the store."""
    if lease is None:
        return False
    return context.store.renew(lease, context.settings.job_lease_seconds)


def _still_held(context: ExecutionContext, lease: Lease | None) -> bool:
    """Whether the run may still clean up after itself: aborting uploads the journal
    lists happens in storage before the fenced journal write, so it is done only while
    the lease is known to be held (a store that cannot tell counts as lost)."""
    if lease is None:
        return True
    try:
        context.store.renew(lease, context.settings.job_lease_seconds)
    except SluiceError:
        return False
    return True


def _lost(exc: BaseException, stop: threading.Event) -> bool:
    """Whether the run stopped because its lease is gone (a journal write was refused,
    or the heartbeat found the lease taken over)."""
    return isinstance(exc, LeaseLost) or (isinstance(stop, ExportStop) and stop.lease_lost)


def discard_open_uploads(job: Job, context: ExecutionContext, lease: Lease | None = None) -> None:
    """Abort what an interrupted run of `job` left open in the store (uploads, local
    temporaries): called when the job is cancelled while queued (or while its run plans),
    so no run will ever continue or sweep them; the journal writes are fenced by `lease`
    when a run holds one. Best effort: a failure is logged (uploads stay journalled)."""
    try:
        destination, profile = plan_destination(job.spec, context.settings)
        with storage_errors():
            sink = context.open_sink(destination, profile=profile)
        prefix = join_key(job.spec.destination.dataset, job.id)
        if any(True for _ in context.store.uploads(job.id)):
            discard_uploads(sink, job.id, context.store, prefix, lease)
        else:
            remove_stale_temporaries(sink, prefix, quietly=True)
    except SluiceError as exc:
        # The cancel still ends the export: a store or destination down only leaves the
        # uploads journalled, for a later sweep.
        _log.warning("export %s: cannot clean up its open uploads: %s", job.id, exc)


def _fingerprint_key_id(context: ExecutionContext) -> str:
    return fingerprint_key_id(IndexKeys.derive(context.index_key).key_id, context.content_key_id)


def _index_keys(
    plan: ExportPlan,
    keys: IndexKeys,
    sink: Sink,
    context: ExecutionContext,
    stop: threading.Event,
    lease: Lease | None,
    check_fingerprint: Callable[[str], object],
) -> KeyedChanges:
    """The keyed first pass: the new key index, tombstones, and the rows to send."""
    settings = context.settings
    keyed = detect_changes(
        plan,
        sink,
        keys,
        content_key=context.content_key,
        workers=settings.zstd_threads,
        batch_rows=settings.batch_rows,
        spill_root=settings.state_dir / "spill",
        stop=stop,
        # The index and tombstones replace what is under their names: a run that lost
        # its lease (LeaseLost) must not replace the new holder's.
        before_commit=lambda: _renew(context, lease),
        check_fingerprint=check_fingerprint,
    )
    _log.info(
        "export %s: key index of %d rows; %s",
        plan.export_id,
        keyed.index.rows,
        ", ".join(f"{n} {what}" for what, n in keyed.counts.to_json().items()),
    )
    if keyed.tombstones_left_out:
        _log.warning(
            "export %s: %d tombstones left out, their keys being among the rows it sends "
            "(did the key columns' type change? the parent's index records none to "
            "compare with; start a new chain with --mode full)",
            plan.export_id,
            keyed.tombstones_left_out,
        )
    return keyed


def _commit(
    plan: ExportPlan,
    sink: Sink,
    job: Job,
    context: ExecutionContext,
    keyed: KeyedChanges | None,
    skipped_rows: int,
    rows_without_cursor: int,
    lease: Lease | None,
) -> str:
    chunks = context.store.chunks(job.id)
    manifest = build_manifest(
        plan,
        chunks,
        created_at=job.created_at,
        finished_at=datetime.now(UTC),
        digest_key_id=context.content_key_id,
        keyed=keyed,
        skipped_rows=skipped_rows,
        rows_without_cursor=rows_without_cursor,
        created_by=job.created_by,
    )
    if plan.cipher.name != NO_CIPHER.name:
        # Beside sealed chunks, in the clear (its report too): the source's and the
        # caller's values in it are sealed for this daemon (committed/sealed_values.py).
        manifest = sealed_manifest(manifest, ValueSealer(context.content_key))
    elif plan.increment.parent_watermark_sealed:
        # Unencrypted on an encrypted parent: the parent's watermark stays sealed here too.
        manifest = sealed_chain_values(manifest, ValueSealer(context.content_key))
    if not _committed(sink, plan):
        # Once a manifest exists (a retry after a crash), its documents are the ones it
        # lists: a report rendered again would differ from them.
        # Written exclusively: one already there is replaced only after a fenced renewal.
        documents = write_documents(plan, sink, manifest, lambda: _renew(context, lease))
        manifest = replace(manifest, documents=documents)
    # The signature replaces what is under its name: a replica that lost its lease while
    # writing the documents must not replace the new holder's (LeaseLost).
    _renew(context, lease)
    _write_signature(
        plan, sink, manifest.to_json(), context.settings, lambda: _renew(context, lease)
    )
    write_manifest(sink, plan.manifest_key, manifest)
    _seal_signature(plan, sink, context.settings)
    # Every chunk is committed: nothing of this export may stay open in the store. The
    # export already counts, so a failed sweep is logged rather than failing it.
    abort_stray_uploads(sink, plan.prefix, quietly=True)
    return f"{sink.uri.rstrip('/')}/{plan.manifest_key}"


def _committed(sink: Sink, plan: ExportPlan) -> bool:
    with storage_errors():
        return any(o.key == plan.manifest_key for o in sink.list(plan.manifest_key))


def _write_signature(
    plan: ExportPlan,
    sink: Sink,
    manifest_bytes: bytes,
    settings: Settings,
    renew: Callable[[], object],
) -> None:
    """Store manifest.json.sig BEFORE the manifest: the manifest's presence commits the
    export, so a committed signed export never lacks its signature. Once a manifest
    exists (a retry after a crash), its signature is left alone: it signs those bytes.
    The signature is written exclusively: one already there (an earlier attempt's, or
    the new holder's when this run lost its lease while writing) is replaced only after
    `renew` confirmed the lease (LeaseLost otherwise)."""
    signer = load_signer(settings.manifest_signing_key)
    if signer is None:
        return
    if _committed(sink, plan):
        return
    store_fenced(sink, signature_key(plan.manifest_key), signer.sign(manifest_bytes), renew)


def _seal_signature(plan: ExportPlan, sink: Sink, settings: Settings) -> None:
    """Make the stored signature sign the committed manifest. The manifest found may be
    another run's (two replicas racing to the commit, one past its lease), and their
    signatures may have replaced each other's in between; Ed25519 signatures are
    deterministic, so every replica holding the key writes the same bytes here."""
    signer = load_signer(settings.manifest_signing_key)
    if signer is None:
        return
    key = signature_key(plan.manifest_key)
    with storage_errors():
        with sink.open(plan.manifest_key) as handle:
            expected = signer.sign(handle.read())
        try:
            with sink.open(key) as handle:
                if handle.read() == expected:
                    return
        except ObjectNotFound:
            pass
    _log.warning("%s: the signature did not sign the committed manifest; signing it again", key)
    store_whole(sink, key, expected, overwrite=True)


class _StoreUploadJournal:
    """An UploadJournal backed by the job store, for one object of one job, fenced by
    the run's lease (a replica that lost it cannot record another part). Handed over
    once the heartbeat found the lease taken (`stop`), so the writer stops sending then,
    not only at its next refused journal write."""

    def __init__(
        self, store: JobStore, job_id: str, key: str, lease: Lease | None, stop: threading.Event
    ) -> None:
        self._store = store
        self._job_id = job_id
        self._key = key
        self._lease = lease
        self._stop = stop

    def load(self) -> str | None:
        return next(
            (state for key, state in self._store.uploads(self._job_id) if key == self._key), None
        )

    def save(self, state: str) -> None:
        try:
            self._store.save_upload(self._job_id, self._key, state, lease=self._lease)
        except (LeaseLost, Unavailable) as exc:
            raise self._refused(exc) from exc

    def clear(self) -> None:
        try:
            self._store.delete_upload(self._job_id, self._key, lease=self._lease)
        except (LeaseLost, Unavailable) as exc:
            raise self._refused(exc) from exc

    def _refused(self, exc: SluiceError) -> JournalRefused:
        # Fenced out (LeaseLost), or a store that could not be asked (Unavailable): the
        # writer must hold the upload handed over either way, and the run ends with the
        # store's own error (the reason). Any other error (the job gone, say) is no
        # refusal: it goes up as itself and the writer aborts as on any failure.
        return JournalRefused(f"the upload journal of {self._key!r} refused: {exc}", reason=exc)

    def handed_over(self) -> bool:
        return isinstance(self._stop, ExportStop) and self._stop.lease_lost

    def wait_handed_over(self, timeout: float) -> bool:
        if isinstance(self._stop, ExportStop):
            return self._stop.wait_lease_lost(timeout)
        time.sleep(timeout)  # a plain stop never hands an upload over
        return False


class _ProgressReporter:
    """Journals chunks and turns pipeline progress into throttled events with rates."""

    def __init__(
        self,
        job_id: str,
        dataset: str,
        context: ExecutionContext,
        start: Progress,
        stop: threading.Event,
        lease: Lease | None = None,
    ) -> None:
        self._job_id = job_id
        self._dataset = dataset
        self._stop = stop
        self._lease = lease
        self._context = context
        self._start = start
        self._started = time.monotonic()
        self._last_publish = 0.0
        self._last_save = time.monotonic()
        #: When this reporter last renewed the lease (monotonic, taken before the renewal
        #: was sent); never yet at first.
        self._renewed_at = -math.inf
        #: The furthest progress reported: chunks commit while the next one is written,
        #: so a commit's totals can be behind what watchers have already seen.
        self._latest = start

    def before_commit(self, index: int) -> None:
        # A replica paused past its lease must not publish a chunk over the new holder's
        # (an encrypted chunk's bytes differ from run to run). Storage takes no part in
        # the store's transaction, so this narrows the window to the commit itself.
        # A lease renewed less than half its length ago (by this process's monotonic
        # clock, which keeps counting while the process is paused) cannot have expired,
        # so no other replica can hold it: the renewal, a journal round trip per chunk,
        # is needed only once that much time has passed. The renewal also tells of a
        # cancel requested on another replica: heard here, the pipeline refuses this
        # chunk's commit, rather than commit on until the heartbeat hears of it (a run
        # paused past its heartbeat, then resumed, would race it).
        if self._lease is None:
            return
        seconds = self._context.settings.job_lease_seconds
        started = time.monotonic()
        if started - self._renewed_at < seconds / 2:
            return
        cancel_requested = self._context.store.renew(self._lease, seconds)
        self._renewed_at = started
        if cancel_requested:
            cancel(self._stop)
            _log.info("export %s: cancel requested through the job store", self._job_id)

    def chunk_committed(self, chunk: ChunkRecord, progress: Progress) -> None:
        self._context.store.record_chunk(self._job_id, chunk, progress, lease=self._lease)
        report_safely(self._context.telemetry.chunk_committed, self._dataset, chunk)
        self._context.hub.publish(ChunkCommitted(self._job_id, chunk))
        self._last_save = time.monotonic()
        latest = self._latest
        if latest.source_rows_done > progress.source_rows_done:
            # The writer is already further on: show that, counting this chunk too.
            progress = replace(latest, chunks=max(latest.chunks, progress.chunks))
        self._publish(progress, force=True)

    def finished(self, totals: Progress) -> None:
        """The pipeline ended with `totals`: the rows skipped (or without a cursor) after
        the last chunk's rows, counted only now, reach the job and its watchers, so its
        counters end equal to its manifest's."""
        self._context.store.save_final_progress(self._job_id, totals, lease=self._lease)
        self._latest = totals
        self._publish(totals, force=True)

    def upload_journal(self, key: str) -> UploadJournal:
        return _StoreUploadJournal(self._context.store, self._job_id, key, self._lease, self._stop)

    def progress(self, progress: Progress) -> None:
        self._latest = progress
        now = time.monotonic()
        if now - self._last_save >= _SAVE_EVERY:
            self._context.store.save_progress(self._job_id, progress, lease=self._lease)
            self._last_save = now
        self._publish(progress)

    def _publish(self, progress: Progress, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_publish < _PUBLISH_EVERY:
            return
        self._last_publish = now
        self._context.hub.publish(ProgressUpdated(self._job_id, self._live(progress, now)))

    def _live(self, progress: Progress, now: float) -> LiveProgress:
        elapsed = max(now - self._started, 1e-6)
        records_rate = (progress.records - self._start.records) / elapsed
        bytes_rate = (progress.stored_bytes - self._start.stored_bytes) / elapsed
        rows_done = progress.source_rows_done - self._start.source_rows_done
        eta = -1.0
        if progress.source_rows_total and rows_done > 0:
            remaining = max(progress.source_rows_total - progress.source_rows_done, 0)
            eta = remaining * elapsed / rows_done
        return LiveProgress(progress, records_rate, bytes_rate, eta)


def describe_failure(exc: BaseException) -> SluiceError:
    """Any failure as a domain error whose message is safe to store and show: an
    unexpected exception by its type alone (its message may quote the data)."""
    return as_domain_error(exc)
