"""Operations on committed exports: verify, diff, delete, retention, and the chain of a
dataset. They work from storage (manifests), so they also serve exports this daemon's
job store never saw; an export id is looked up in the job store first for convenience."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from sluice.format.layout import MANIFEST_NAME, export_folder, manifest_key
from sluice.format.manifest import Manifest
from sluice.server.committed.catalog import CommittedExport, committed_exports
from sluice.server.committed.chunk_diff import ChunkDiff, diff_chunks
from sluice.server.committed.leftovers import (
    has_manifest,
    journalled_chunk_keys,
    remove_chunks,
)
from sluice.server.committed.manifests import read_manifest
from sluice.server.committed.record_diff import (
    IndexedExport,
    RecordChange,
    RecordDiffSummary,
    diff_records,
    record_level_note,
)
from sluice.server.committed.retention import (
    RETIRE_A_CHAIN,
    RetentionPlan,
    RetentionPolicy,
    delete_export,
    plan_retention,
)
from sluice.server.committed.served_manifests import served_manifest
from sluice.server.committed.verify import VerifyReport, verify_export
from sluice.server.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    SluiceError,
    quoted,
)
from sluice.server.execution.open_uploads import discard_uploads
from sluice.server.execution.run_facts import increments_on
from sluice.server.execution.verifying_keys import verifying_keys
from sluice.server.jobs.model import RESUMABLE_STATES, UNFINISHED_STATES, Job, JobState
from sluice.server.jobs.store import JobStore
from sluice.server.planning.authorization import (
    check_destination,
    check_profile,
    may_see,
    require_scope,
)
from sluice.server.planning.export_files import fixed_file_names
from sluice.server.planning.plan import (
    DATASET_RULE,
    check_dataset_name,
    is_dataset_name,
    outside_export_roots,
    plan_destination,
    storage_profile,
)
from sluice.server.principals import Principal, Scope
from sluice.server.settings import Settings
from sluice.server.storage_errors import storage_errors
from sluice.sinks import LocationRefused, classify
from sluice.sinks.base import Sink
from sluice.sinks.locations import without_secrets
from sluice.sinks.profiles import AzureProfile, S3Profile


class SinkOpener(Protocol):
    def __call__(self, uri: str, *, profile: S3Profile | AzureProfile | None = None) -> Sink: ...


@dataclass(frozen=True)
class ExportLocation:
    """Where a committed export lives: a sink rooted at its destination, and its keys."""

    sink: Sink
    destination: str
    dataset: str
    export_id: str

    @property
    def folder(self) -> str:
        return export_folder(self.dataset, self.export_id)

    @property
    def manifest_key(self) -> str:
        return manifest_key(self.folder)


class ExportAdmin:
    def __init__(self, settings: Settings, store: JobStore, open_sink: SinkOpener) -> None:
        self._settings = settings
        self._store = store
        self._open_sink = open_sink

    def locate(
        self, ref: str, field: str = "export", *, principal: Principal, profile: str = ""
    ) -> ExportLocation:
        """An export id known to the job store, or the URI of a manifest.json. Another
        principal's export id is NOT_FOUND (admin excepted); a manifest URI must lie
        within the principal's destination roots, and is reached with the storage
        `profile` named (checked as CreateExport checks spec.destination.profile). An
        export id is reached as it was written; a `profile` given with one (DiffExports
        takes one for both sides) is still checked: the principal may use it, and it
        exists."""
        if not ref.strip():
            raise InvalidArgument(field, "give an export id or a manifest URI")
        if ref.rstrip("/").endswith(MANIFEST_NAME):
            destination, dataset, export_id = _split_manifest_uri(ref, field)
            check_destination(principal, destination, field)
            named = self._profile(profile, destination, principal)
            location = ExportLocation(
                self._open(destination, field, named), destination, dataset, export_id
            )
            if not principal.admin and self._creator(location) != principal.name:
                # Nothing there and another's export get the same words: no existence leak.
                raise NotFound(f"export {without_secrets(ref)!r:.200} not found")
            return location
        self._named_profile(profile, principal)
        job = self._visible_job(ref, principal)
        if _left_over(job):
            raise FailedPrecondition(
                f"export '{ref}' is deleted: it was cancelled or failed, so it never had a "
                "manifest, and `sluice export delete` removed its chunk files, unless that "
                "was cut short; delete it again to finish removing its files"
            )
        if job.state == JobState.DELETED:
            raise FailedPrecondition(f"export '{ref}' is deleted; its files were removed")
        if job.state != JobState.SUCCEEDED or not job.manifest_uri:
            raise FailedPrecondition(_no_manifest(job))
        # An export this daemon made lies where its spec sent it, reached with the profile
        # it used, checked as when it ran (a profile since removed is named, not dropped).
        destination, written_with = plan_destination(job.spec, self._settings)
        sink = self._open(destination, field, written_with)
        return ExportLocation(sink, destination, job.spec.destination.dataset, job.id)

    def _visible_job(self, ref: str, principal: Principal) -> Job:
        try:
            job = self._store.get(ref)
        except NotFound:
            job = None
        if job is None or not may_see(principal, job):
            # The files outlive the job store (a lost state folder, another daemon's
            # export): storage is the source of truth, so say how to reach them there.
            # Another principal's export gets the very same words: no existence leak.
            raise NotFound(
                f"export '{without_secrets(ref)}' is not in this daemon's job store; name "
                "it by its manifest "
                "instead (DESTINATION/DATASET/EXPORT_ID/manifest.json, or the CLI's export folder)"
            )
        return job

    def verify(
        self, ref: str, principal: Principal, profile: str = "", *, allow_unsigned: bool = False
    ) -> VerifyReport:
        """Every chunk re-read and checked; on a signing daemon, the manifest's signature
        too (`allow_unsigned`: a manifest without one is reported unsigned, not corrupt)."""
        require_scope(principal, Scope.READ)
        location = self.locate(ref, principal=principal, profile=profile)
        keys = verifying_keys(self._settings)
        return verify_export(
            location.sink, location.manifest_key, keys, allow_unsigned=allow_unsigned
        )

    def diff(
        self, base_ref: str, other_ref: str, principal: Principal, profile: str = ""
    ) -> tuple[ChunkDiff, str]:
        """The chunk-level diff, and why a record-level one is not possible ("": it is)."""
        require_scope(principal, Scope.READ)
        base = self.manifest(self.locate(base_ref, "base", principal=principal, profile=profile))
        other = self.manifest(self.locate(other_ref, "other", principal=principal, profile=profile))
        return diff_chunks(base, other), record_level_note(base, other)

    def diff_records(
        self, base_ref: str, other_ref: str, principal: Principal, profile: str = ""
    ) -> Iterator[list[RecordChange] | RecordDiffSummary]:
        """Record-level changes from the two exports' key indexes, streamed."""
        require_scope(principal, Scope.READ)
        exports = []
        for ref, field in ((base_ref, "base"), (other_ref, "other")):
            location = self.locate(ref, field, principal=principal, profile=profile)
            exports.append(IndexedExport(location.sink, location.folder, self.manifest(location)))
        return diff_records(exports[0], exports[1])

    def manifest(self, location: ExportLocation) -> Manifest:
        """The manifest whose records are served (Flight reads, diffs): checked against
        this daemon's signing key, or an older one it accepts, when it signs
        (committed/served_manifests.py)."""
        keys = verifying_keys(self._settings)
        return served_manifest(location.sink, location.manifest_key, keys)

    def _creator(self, location: ExportLocation) -> str | None:
        """Who made the export at `location`; None when it has no manifest. Not checked
        against the signing key: verify must reach a manifest whose signature fails (to
        report it), and delete one to remove it; what is served is checked by manifest."""
        try:
            return read_manifest(location.sink, location.manifest_key).created_by
        except NotFound:
            return None

    def chain(
        self, destination: str, dataset: str, principal: Principal, profile: str = ""
    ) -> list[CommittedExport]:
        require_scope(principal, Scope.READ)
        check_dataset_name(dataset, "dataset")
        check_destination(principal, destination, "destination")
        named = self._profile(profile, destination, principal)
        sink = self._open(destination, "destination", named)
        return _own(committed_exports(sink, dataset), principal)

    def delete(self, ref: str, principal: Principal, profile: str = "") -> int:
        """Remove a committed export (by id or manifest URI), or the chunk files an export
        of this daemon left when it was cancelled or failed (by id): returns how many
        objects were removed."""
        require_scope(principal, Scope.DELETE)
        if ref.strip() and not ref.rstrip("/").endswith(MANIFEST_NAME):
            self._named_profile(profile, principal)
            job = self._visible_job(ref, principal)
            if job.state in RESUMABLE_STATES or _left_over(job):
                return self._delete_left_over_chunks(job)
            if job.state in UNFINISHED_STATES:
                raise FailedPrecondition(
                    f"export '{job.id}' is {job.state}; cancel it first (`sluice export cancel "
                    f"{job.id}`), then delete the chunk files it wrote"
                )
        location = self.locate(ref, principal=principal, profile=profile)
        if ref.rstrip("/").endswith(MANIFEST_NAME) and not _holds_anything(location):
            # A manifest URI of nothing (a typo, an export deleted already): not "0
            # objects removed". A folder of chunks without a manifest (a delete cut
            # short) still holds something, so it stays deletable.
            raise NotFound(f"export {without_secrets(ref)!r:.200} not found")
        exports = committed_exports(location.sink, location.dataset)
        children = [e for e in exports if e.parent_export_id == location.export_id]
        if children:
            # Other principals' children are counted, never named.
            named = [e.export_id for e in _own(children, principal)]
            others = len(children) - len(named)
            listed = ", ".join([*named, *([f"{others} export(s) of others"] if others else [])])
            raise FailedPrecondition(
                f"export '{location.export_id}' is the parent of {listed}; "
                f"delete those first, or {RETIRE_A_CHAIN}"
            )
        self._refuse_pinned_parent(location, principal)
        removed = delete_export(location.sink, location.dataset, location.export_id)
        self._mark_deleted(location)
        return removed

    def _refuse_pinned_parent(self, location: ExportLocation, principal: Principal) -> None:
        """FailedPrecondition while a queued or running increment builds on the export:
        it is not its committed child yet, but it planned its changes against it."""
        running = increments_on(self._store, location.dataset, location.export_id)
        if not running:
            return
        # As for committed children: another principal's export is counted, never named.
        named = [f"'{job.id}' ({job.state})" for job in running if may_see(principal, job)]
        others = len(running) - len(named)
        listed = ", ".join([*named, *([f"{others} export(s) of others"] if others else [])])
        raise FailedPrecondition(
            f"export '{location.export_id}' is the parent of the unfinished incremental "
            f"export {listed}; wait for it to finish (it then builds on this one: delete "
            "it first) or cancel it, then delete this one"
        )

    def _delete_left_over_chunks(self, job: Job) -> int:
        """Remove the chunk files a cancelled or failed export journalled and the files it
        writes under fixed names (fixed_file_names), and only those. The export first
        leaves its resumable state for DELETED (compare-and-set: a resume, or a run,
        between the read and now wins and nothing is removed), so no later run can build
        on files that are gone; then what its runs left open in the store (uploads,
        temporaries) is aborted, as a resume would have. A storage error leaves it
        DELETED with the rest stored: deleting it again removes them. Becoming DELETED
        forgets its request's values (mark_deleted), not its destination and file names:
        a second delete reads them from the job's spec."""
        destination, profile = plan_destination(job.spec, self._settings)
        sink = self._open(destination, "export", profile)
        dataset = job.spec.destination.dataset
        if job.state in RESUMABLE_STATES:
            if has_manifest(sink, dataset, job.id):
                raise FailedPrecondition(
                    f"export '{job.id}' is {job.state}, yet its folder holds a manifest; "
                    "name it by that manifest to delete it whole"
                )
            try:
                self._store.mark_deleted(job.id, RESUMABLE_STATES, error=job.error)
            except FailedPrecondition:
                now = self._store.get(job.id).state
                raise FailedPrecondition(
                    f"export '{job.id}' is {now} now (it was {job.state}); "
                    "its chunk files were not removed"
                ) from None
        # Read once no run can add to it: a resume and a new end between the first read
        # of the job and the compare-and-set may have journalled more.
        keys = journalled_chunk_keys(dataset, job.id, [c.path for c in self._store.chunks(job.id)])
        # And what it writes under fixed names before its manifest (a keyed export's
        # index and tombstones, the latter deleted rows' keys): by name, never by prefix.
        folder = export_folder(dataset, job.id)
        keys += [f"{folder}/{name}" for name in fixed_file_names(job.spec, self._settings)]
        try:
            removed = remove_chunks(sink, keys)
            # A failed run's best-effort sweep may have left an upload open (its parts
            # stored and billed, invisible to listings): no run will ever sweep it now.
            discard_uploads(sink, job.id, self._store, folder, quietly=False)
        except SluiceError as exc:
            exc.message = (
                f"{exc.message}; export '{job.id}' can no longer resume and some of its "
                "chunk files or open uploads may remain: delete it again to remove them"
            )
            exc.args = (exc.message,)
            raise
        return removed

    def retain(
        self,
        destination: str,
        dataset: str,
        policy: RetentionPolicy,
        *,
        dry_run: bool,
        principal: Principal,
        profile: str = "",
    ) -> RetentionPlan:
        require_scope(principal, Scope.READ if dry_run else Scope.DELETE)
        check_dataset_name(dataset, "dataset")
        check_destination(principal, destination, "destination")
        named = self._profile(profile, destination, principal)
        sink = self._open(destination, "destination", named)
        # A principal's policy weighs and removes only its own exports (admin: all).
        exports = _own(committed_exports(sink, dataset), principal)
        if not exports:
            # A misspelt dataset would otherwise keep and delete nothing, silently. The
            # same words when all its exports are another principal's: no existence leak.
            raise NotFound(
                f"dataset {dataset!r} has no committed exports under {without_secrets(destination)}"
            )
        plan = plan_retention(exports, policy)
        if not dry_run:
            marked = False
            try:
                for export_id in plan.delete:
                    delete_export(sink, dataset, export_id)
                    location = ExportLocation(sink, destination, dataset, export_id)
                    marked |= self._mark_deleted(location, batch=True)
            finally:
                if marked:  # once for the batch, even one cut short
                    self._store.erase_forgotten()
        return plan

    def _mark_deleted(self, location: ExportLocation, *, batch: bool = False) -> bool:
        """The job of a removed export becomes DELETED, when this daemon made it there:
        an export id is found in the job store, and its manifest is the one removed (not
        a copy of the export elsewhere). Whether it did (mark_deleted's `batch`)."""
        try:
            job = self._store.get(location.export_id)
        except NotFound:
            return False  # made by another daemon, or before this job store
        removed = f"{location.sink.uri.rstrip('/')}/{location.manifest_key}"
        if job.state != JobState.SUCCEEDED or job.manifest_uri != removed:
            return False
        with contextlib.suppress(FailedPrecondition):  # deleted meanwhile by another call
            self._store.mark_deleted(job.id, {JobState.SUCCEEDED}, batch=batch)
            return True
        return False

    def _profile(
        self, name: str, uri: str, principal: Principal
    ) -> S3Profile | AzureProfile | None:
        """The storage profile a call names for `uri` (request field `profile`), checked as
        CreateExport checks spec.destination.profile: the principal may use it, it
        exists, and it is for the kind of store `uri` names."""
        check_profile(principal, name, "profile")
        return storage_profile(self._settings, name, uri, "profile")

    def _named_profile(self, name: str, principal: Principal) -> None:
        """A `profile` given beside an export id, which is reached with the profile it was
        written with: never silently ignored when the principal may not use it, or when
        no such profile exists (its kind depends on the other side of a diff)."""
        check_profile(principal, name, "profile")
        if name and name not in self._settings.storage_profiles:
            raise InvalidArgument("profile", f"unknown storage profile {quoted(name)}")

    def _open(
        self, destination: str, field: str, profile: S3Profile | AzureProfile | None = None
    ) -> Sink:
        """The sink of a destination from the allow-list (sinks.locations); local folders
        must lie inside the export roots, as for writing. Nothing is contacted before."""
        try:
            location = classify(destination)
        except LocationRefused as exc:
            raise InvalidArgument(field, str(exc)) from None
        target = destination
        if location.kind == "local":
            target = os.path.realpath(location.target)
            problem = outside_export_roots(target, self._settings, sent=destination)
            if problem:
                raise InvalidArgument(field, problem)
        try:
            with storage_errors():  # a profile secret that cannot be read
                return self._open_sink(target, profile=profile)
        except ValueError as exc:  # a malformed bucket or container name, a profile mismatch
            raise InvalidArgument(field, str(exc)) from None


def _no_manifest(job: Job) -> str:
    """Why an export of this daemon has no manifest to read, in its own words."""
    if job.state in RESUMABLE_STATES:
        outcome = "was cancelled" if job.state == JobState.CANCELLED else "failed"
        return (
            f"export '{job.id}' {outcome} before it finished (state {job.state}), so it has "
            "no manifest: one is written only when an export succeeds. Resume it "
            f"(`sluice export resume {job.id}`), or delete the chunk files it wrote "
            f"(`sluice export delete {job.id}`)"
        )
    return (
        f"export '{job.id}' is {job.state}; it has no manifest yet (one is written when "
        "it succeeds)"
    )


def _left_over(job: Job) -> bool:
    """A cancelled or failed export whose chunk files were (partly) deleted: it never had
    a manifest, unlike a deleted committed export."""
    return job.state == JobState.DELETED and not job.manifest_uri


def _holds_anything(location: ExportLocation) -> bool:
    with storage_errors():
        return next(iter(location.sink.list(location.folder + "/")), None) is not None


def _own(exports: list[CommittedExport], principal: Principal) -> list[CommittedExport]:
    if principal.admin:
        return exports
    return [export for export in exports if export.created_by == principal.name]


def _split_manifest_uri(uri: str, field: str) -> tuple[str, str, str]:
    """(destination, dataset, export id) of a manifest URI a caller gave: the one place
    such a URI is taken apart (an export id is located from its job record instead).
    The dataset and export id are single folder names (never '.', '..' or ''), and the
    destination an absolute path or SCHEME://SOMETHING: a relative one would resolve
    against the daemon's working folder, and s3://bucket/x/manifest.json would leave
    's3:/' as the destination."""
    root, _, manifest = uri.rstrip("/").rpartition("/")
    base, _, export_id = root.rpartition("/")
    destination, _, dataset = base.rpartition("/")
    scheme, separator, rest = destination.partition("://")
    absolute = bool(scheme and rest.strip("/")) if separator else destination.startswith("/")
    if manifest != MANIFEST_NAME or not absolute or not dataset or not export_id:
        raise InvalidArgument(
            field,
            f"a manifest URI is <destination>/<dataset>/<export_id>/{MANIFEST_NAME},"
            " the destination an absolute path or a URI",
        )
    if not is_dataset_name(dataset):
        raise InvalidArgument(
            field, f"the dataset of a manifest URI is {DATASET_RULE}, not {quoted(dataset)}"
        )
    if not is_dataset_name(export_id):
        raise InvalidArgument(
            field, f"the export id of a manifest URI is {DATASET_RULE}, not {quoted(export_id)}"
        )
    return destination, dataset, export_id
