"""What a resumed run must find as its first run did, or it would not continue the same
export: the source files (a resume continues by row position), the parent of an
increment (its changes were chosen against it), the rows the keyed first pass saw
(its selection and index were made from them), the keys its digests were made under,
and its redaction (a named server policy is read from the settings of the replica that
runs it: its chunks must all be redacted one way, the way the manifest describes).

The first run journals these facts before its first chunk (server/jobs/store.py
save_run_facts); a run that finds chunks journalled compares them and fails with
FAILED_PRECONDITION on a difference, keeping the chunks already written (nothing of the
export is replaced, and it never commits mixing two sources). A nightly sync then runs
again as a new export, whose parent is the last committed one.

Database sources have no files: they resume by their order key (rows after the last
journalled key are read from the resumed run's snapshot). A keyed export of one compares
the key pass's fingerprint, so a change to any selected row is caught there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sluice.server.errors import FailedPrecondition, NotFound, quoted_list
from sluice.server.jobs.model import ChunkRecord, Job, Lease
from sluice.server.jobs.store import JobStore
from sluice.server.pipeline import cloud_files
from sluice.server.pipeline.source import ResolvedSource
from sluice.sinks import ObjectInfo
from sluice.sinks.locations import without_credentials

_log = logging.getLogger("sluice.run_facts")

#: One source file as a run saw it: path, size in bytes, modification time in
#: nanoseconds (None: not known, as for objects in S3 or Azure).
FileIdentity = tuple[str, int | None, int | None]


@dataclass(frozen=True)
class RunFacts:
    files: tuple[FileIdentity, ...] = ()
    #: The parent export an increment continues ("" for none).
    parent: str = ""
    #: The keyed first pass's fingerprint (server/execution/key_changes.py); "" unkeyed.
    keys: str = ""
    #: S3 and Azure objects: (path, version), the ETag or etag their listing gave, which
    #: changes when an object is written again with the same size. Facts journalled
    #: before it have none, and are compared by size alone, as they were.
    versions: tuple[tuple[str, str], ...] = ()
    #: Local files: (path, inode number), which changes when another file is renamed
    #: over the path (written elsewhere, then moved into place), whatever its size and
    #: modification time. Facts journalled before it have none, compared as they were.
    #: Not the device number: a replica mounting the same shared filesystem (NFS) sees
    #: the same file with another st_dev, and a rename never crosses filesystems.
    inodes: tuple[tuple[str, str], ...] = ()
    #: The version of the index keys the key pass was taken under (IndexKeys.version;
    #: the fingerprint depends on them): "" when journalled before keys were per chain,
    #: whose pass was taken under the daemon-wide v1 keys.
    index_key_version: str = ""
    #: The public id of the keys the run's digests were made under: keyed, the key
    #: index key's and the content digest key's (fingerprint_key_id); unkeyed, the
    #: content digest key's (its chunks' digests). "" when journalled before facts named
    #: it. Digests made under other keys differ for the same rows.
    key_id: str = ""
    #: The first run read fixed-offset zones ("+02:00") as UTC (pipeline/fixed_offsets);
    #: facts journalled before have none, their run read a whole-hour offset as
    #: Etc/GMT∓N, and a resume of it reads them so too (planning/offset_zones.py): its
    #: chunks, manifest schema and key pass were made so.
    offsets_utc: bool = False
    #: The redaction the run applies (redaction_facts): (part of its description, its
    #: value or digest). Empty when journalled before facts named it. A named server
    #: policy is read from each replica's settings at each run: a changed policy (a
    #: helm upgrade, or a replica of a rolling update with the other config) would
    #: redact the rest of the export another way than its first chunks.
    redaction: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> str:
        data: dict[str, object] = {
            "files": [list(f) for f in self.files],
            "parent": self.parent,
            "keys": self.keys,
            "index_key_version": self.index_key_version,
        }
        if self.versions:  # its own key: a replica that predates it still reads "files"
            data["versions"] = [list(v) for v in self.versions]
        if self.inodes:  # as versions: its own key, "files" as it was
            data["inodes"] = [list(i) for i in self.inodes]
        if self.key_id:
            data["key_id"] = self.key_id
        if self.offsets_utc:
            data["offsets_utc"] = True
        if self.redaction:
            data["redaction"] = [list(r) for r in self.redaction]
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> RunFacts:
        data = json.loads(text)
        files = tuple((str(p), s, m) for p, s, m in data.get("files", []))
        versions = tuple((str(p), str(v)) for p, v in data.get("versions", []))
        inodes = tuple((str(p), str(i)) for p, i in data.get("inodes", []))
        return cls(
            files,
            str(data.get("parent", "")),
            str(data.get("keys", "")),
            versions=versions,
            inodes=inodes,
            index_key_version=str(data.get("index_key_version", "")),
            key_id=str(data.get("key_id", "")),
            offsets_utc=data.get("offsets_utc") is True,
            redaction=tuple((str(p), str(v)) for p, v in data.get("redaction", [])),
        )

    @property
    def key_pass_version(self) -> str:
        """The version of the keys the journalled key pass was taken under ("" for no
        key pass): facts journalled before versions were recorded took it under v1."""
        if not self.keys:
            return ""
        return self.index_key_version or "v1"


def source_facts(source: ResolvedSource, parent: str) -> RunFacts:
    """What a run journals of its source (source_identity), with S3 and Azure objects'
    versions or local files' inodes, and the increment's `parent`."""
    if not (source.in_cloud and source.files):
        identities, inodes = _local_identity(source)
        return RunFacts(identities, parent, inodes=inodes, offsets_utc=True)
    listed = _cloud_listing(source)
    files = tuple(
        (without_credentials(f), info.size if info else None, None)
        for f, info in zip(source.files, listed, strict=True)
    )
    versions = tuple(
        (without_credentials(f), info.version)
        for f, info in zip(source.files, listed, strict=True)
        if info is not None and info.version
    )
    return RunFacts(files, parent, versions=versions, offsets_utc=True)


def fingerprint_key_id(index_key_id: str, content_key_id: str) -> str:
    """The key id a keyed run's facts record: both keys its fingerprint depends on."""
    return f"{index_key_id}/{content_key_id}"


#: Parts of a redaction's description recorded as they are (names, never key material);
#: every other part (rules, patterns, hash key ids, columns) by a digest of its JSON.
_PLAIN_REDACTION_PARTS = frozenset({"level", "policy"})
#: What the description records of the rows redacted, not of the redaction.
_COUNTED_REDACTION_PARTS = frozenset({"counts", "counts_are"})


def redaction_facts(described: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    """What run facts record of a redaction (Redactor.describe, as the manifest will
    record it: level, rules, patterns, hash key ids, never key material): enough to
    tell that a resumed run would redact otherwise, and which part differs."""
    parts: list[tuple[str, str]] = []
    for part, value in sorted(described.items()):
        if part in _COUNTED_REDACTION_PARTS:
            continue
        if part in _PLAIN_REDACTION_PARTS:
            parts.append((part, "" if value is None else str(value)))
            continue
        text = json.dumps(value, sort_keys=True, default=str)
        parts.append((part, hashlib.sha256(text.encode()).hexdigest()[:16]))
    return tuple(parts)


def merged_redaction_facts(
    facts: Sequence[tuple[tuple[str, str], ...]],
) -> tuple[tuple[str, str], ...]:
    """One record of several redactions (a subject package's parts, in order): each
    part of the description as one value (the names each part gave, or one digest of
    their digests), so that a change to any of them is told by the part it changed."""
    values: dict[str, list[str]] = {}
    for one in facts:
        for part, value in one:
            values.setdefault(part, []).append(value)
    merged = []
    for part, given in sorted(values.items()):
        if part in _PLAIN_REDACTION_PARTS:
            merged.append((part, ", ".join(dict.fromkeys(given))))
        else:
            merged.append((part, hashlib.sha256("/".join(given).encode()).hexdigest()[:16]))
    return tuple(merged)


def source_identity(source: ResolvedSource) -> tuple[FileIdentity, ...]:
    """Each source file's path, size and modification time (cloud objects: size only,
    their versions are source_facts'); nothing for database and stream sources (see the
    module's note)."""
    if source.database is not None or source.stream is not None:
        return ()
    if source.in_cloud:
        listed = _cloud_listing(source)
        return tuple(
            (without_credentials(f), info.size if info else None, None)
            for f, info in zip(source.files, listed, strict=True)
        )
    return _local_identity(source)[0]


def _local_identity(
    source: ResolvedSource,
) -> tuple[tuple[FileIdentity, ...], tuple[tuple[str, str], ...]]:
    """Each local file's identity, and its inode number (from the same stat)."""
    if source.database is not None or source.stream is not None or source.in_cloud:
        return (), ()
    identities: list[FileIdentity] = []
    inodes: list[tuple[str, str]] = []
    for shown, opened in zip(source.files, source.real_files or source.files, strict=False):
        try:
            stat = os.stat(opened)
        except OSError:
            identities.append((shown, None, None))
        else:
            identities.append((shown, stat.st_size, stat.st_mtime_ns))
            inodes.append((shown, str(stat.st_ino)))
    return tuple(identities), tuple(inodes)


def _cloud_listing(source: ResolvedSource) -> list[ObjectInfo | None]:
    """Each cloud file's listing: the one its expansion made when there is one (no second
    listing, and no window between the two), else one listing of them all (None: gone)."""
    if len(source.objects) == len(source.files):
        return list(source.objects)
    if not source.files:
        return []
    objects = cloud_files.CloudFiles(cloud_files.split(source.files[0])[0], source.profile)
    found = objects.listed(source.files)
    return [found.get(f) for f in source.files]


def pinned_facts(store: JobStore, job_id: str, chunks: Sequence[ChunkRecord]) -> RunFacts | None:
    """The facts a resumed run must match: None when nothing is journalled yet (no chunk:
    the run starts afresh and journals its own) or the job predates run facts."""
    if not chunks:
        return None
    text = store.run_facts(job_id)
    return RunFacts.from_json(text) if text is not None else None


def check_same(
    pinned: RunFacts | None,
    found: RunFacts,
    export_id: str,
    *,
    keyed: bool = False,
    sources: Sequence[ResolvedSource] = (),
) -> None:
    """FailedPrecondition when this run would not continue the export its chunks began.
    A changed file is named as `sources` (what this run read) name it to callers: a
    named source's by the source's name and the file's place (file_named).

    A file source continues when its files are as they were, or when a glob gained files
    that sort after every one of them (the earlier rows keep their positions; the new
    files' rows are exported after them, as a new export would). A `keyed` export whose
    first run journalled a fingerprint is judged by it alone (it covers the position and
    digests of every row the key pass sees, so a file only touched, or a replica's own
    copy of the source with another mtime, still resumes): call again with `found.keys`
    once the key pass has run."""
    if pinned is None:
        return
    if pinned.parent != found.parent:
        raise FailedPrecondition(
            f"the dataset has an export ({found.parent or 'none'}) newer than this "
            f"increment's parent ({pinned.parent or 'none'}): export {export_id}'s chunks "
            "hold the changes since its parent, which would fork the chain; start a new "
            "export instead of resuming this one"
        )
    by_fingerprint = keyed and bool(pinned.keys)
    if pinned.key_id and found.key_id and pinned.key_id != found.key_id:
        settings = "content_digest_key or key_index_key" if keyed else "content_digest_key"
        given = "content_digest_key (and key_index_key)" if keyed else "content_digest_key"
        why = (
            "its key pass cannot be compared with the first run's"
            if keyed
            else "its manifest would hold chunk digests made under two keys"
        )
        raise FailedPrecondition(
            f"this replica's {settings} differs from the one export {export_id} started "
            f"under (key id {pinned.key_id}, here {found.key_id}): {why}, so the export "
            "cannot continue here (it is kept as it is); give every replica the same "
            f"{given}, then resume it or start it again"
        )
    if pinned.redaction and found.redaction and pinned.redaction != found.redaction:
        raise FailedPrecondition(
            f"the redaction here differs from the one export {export_id} started under "
            f"({_changed_redaction(pinned.redaction, found.redaction)}): its chunks so far "
            "were redacted the first way and its manifest describes one redaction, so the "
            "export cannot continue here (it is kept as it is); give every replica the "
            "same redaction_policies and hash_keys as when it started, then resume it, or "
            "start it again"
        )
    if not by_fingerprint and found.files[: len(pinned.files)] != pinned.files:
        raise FailedPrecondition(
            f"source changed since the export started: "
            f"{file_named(sources, _changed_file(pinned, found)) or 'the order of its files'}; its "
            f"chunks were read from the earlier files and a resume continues by row "
            f"position, so export {export_id} cannot continue (it is kept as it is); a file "
            "rewritten, touched (a new modification time), appended to, or a replica's own "
            "copy of it all count as changed: start the export again as a new export"
        )
    rewritten = "" if by_fingerprint else file_named(sources, _rewritten_object(pinned, found))
    if rewritten:
        raise FailedPrecondition(
            f"source changed since the export started: {rewritten} (written again since, "
            "with the same size: its ETag or etag differs); its chunks were read from the "
            f"earlier object and a resume continues by row position, so export {export_id} "
            "cannot continue (it is kept as it is): start the export again as a new export"
        )
    replaced = (
        "" if by_fingerprint else file_named(sources, _first_differing(pinned.inodes, found.inodes))
    )
    if replaced:
        raise FailedPrecondition(
            f"source changed since the export started: {replaced} (replaced since by "
            "another file, with the same size and modification time: its inode differs); "
            "its chunks were read from the earlier file and a resume continues by row "
            f"position, so export {export_id} cannot continue (it is kept as it is): start "
            "the export again as a new export"
        )
    if found.keys and pinned.keys and pinned.keys != found.keys:
        raise FailedPrecondition(
            "source changed since the export started: the key pass found other rows (or "
            f"the same rows at other positions) than at the first attempt; export "
            f"{export_id}'s chunks hold the earlier values, so it cannot continue (it is "
            "kept as it is); start the export again as a new export"
        )


def increments_on(store: JobStore, dataset: str, parent: str) -> list[Job]:
    """The queued and running exports of `dataset` whose runs pinned `parent` as their
    increment's parent (their facts name it): deleting it under them would leave a
    key-only run without the index it compares with, or commit one naming a parent
    that is gone. A run pins it before it reads anything of it (executor.execute)."""
    pinning = []
    for job in store.unfinished():
        if job.spec.destination.dataset != dataset:
            continue
        try:
            text = store.run_facts(job.id)
        except NotFound:  # finished and forgotten meanwhile
            continue
        if text is not None and RunFacts.from_json(text).parent == parent:
            pinning.append(job)
    return pinning


def save_facts(store: JobStore, job_id: str, facts: RunFacts, lease: Lease | None) -> None:
    store.save_run_facts(job_id, facts.to_json(), lease=lease)


def _rewritten_object(pinned: RunFacts, found: RunFacts) -> str:
    """The first object whose version the first run journalled and which has another one
    now ("" none): journalled without a version (older facts), an object is compared by
    size alone."""
    return _first_differing(pinned.versions, found.versions)


def _first_differing(pinned: Sequence[tuple[str, str]], found: Sequence[tuple[str, str]]) -> str:
    """The first path of `pinned` whose value `found` does not have ("" none)."""
    now = dict(found)
    for path, value in pinned:
        if now.get(path, "") != value:
            return path
    return ""


def _changed_redaction(pinned: Sequence[tuple[str, str]], found: Sequence[tuple[str, str]]) -> str:
    """Which parts of the redaction differ, named (a policy's and a level's values)."""
    before, after = dict(pinned), dict(found)
    policy = before.get("policy", "")
    named = f"server policy {policy!r}: " if policy else ""
    changed = []
    for part in sorted(before.keys() | after.keys()):
        was, now = before.get(part, "(none)"), after.get(part, "(none)")
        if was == now:
            continue
        if part in _PLAIN_REDACTION_PARTS:
            changed.append(f"{part} {was or '(none)'!r}, here {now or '(none)'!r}")
        else:
            changed.append(f"its {part} differ")
    return named + "; ".join(changed)


def file_named(sources: Sequence[ResolvedSource], path: str) -> str:
    """A journalled file `path` as errors name it to callers: as its source names it
    (ResolvedSource.file_shown: a named source's by its name and the file's place, the
    path in the server log); a file no named source holds now (gone since) as one of
    theirs. `path` as it is without `sources`, or when it is no file ("")."""
    if not path or not any(source.source_name for source in sources):
        return path
    for source in sources:
        if path in (without_credentials(f) for f in source.files):
            known = next(f for f in source.files if without_credentials(f) == path)
            source.log_file(known)
            return source.file_shown(known)
    names = sorted({source.source_name for source in sources if source.source_name})
    _log.warning("named source %s: a file no longer there is %s", ", ".join(names), path)
    return f"a file of named source {quoted_list(names)} that is no longer there"


def _changed_file(pinned: RunFacts, found: RunFacts) -> str:
    before = {f[0]: f for f in pinned.files}
    after = {f[0]: f for f in found.files}
    for path in sorted(before.keys() | after.keys()):
        if before.get(path) != after.get(path):
            return path
    return ""  # the same files, in another order
