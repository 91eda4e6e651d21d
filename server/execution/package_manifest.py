"""A GDPR subject package's journal read part by part (where a run continues) and its
manifest (the export's, plus which chunks hold which source and format).

Parts run in order and chunk numbers continue from part to part, so the journal's chunks
belong to parts in order too: every part before the last one with a chunk is complete,
and that last one continues after its last journalled chunk (a finished part continues
with nothing left to read, and writes nothing)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sluice.format.manifest import (
    Manifest,
    PackagePart,
    QueryInfo,
    SourceInfo,
    SubjectPackageInfo,
)
from sluice.server.errors import FailedPrecondition
from sluice.server.execution.manifest_writer import build_manifest, schema_fields
from sluice.server.jobs.model import ChunkRecord
from sluice.server.pipeline.export import ResumePoint
from sluice.server.planning.encryption import ZIP_AES_SCHEME
from sluice.server.planning.subject_package import PACKAGE_FORMATS, PackagePlan

#: What the subject digest's HMAC covers before the id (keeps it apart from other uses
#: of the content-digest key).
_SUBJECT_DIGEST_DOMAIN = b"sluice-subject-id\x00"


def part_starts(
    package: PackagePlan, chunks: Sequence[ChunkRecord]
) -> list[tuple[int, ResumePoint]]:
    """(part number, where it starts) for each part still to run, in order. The start's
    chunk number and totals are the runner's to fill in (they continue across parts)."""
    owners = [owner_of(package, chunk) for chunk in chunks]
    started = max(owners, default=0)
    starts = []
    for number in range(started, len(package.parts)):
        own = [chunk for chunk, owner in zip(chunks, owners, strict=True) if owner == number]
        starts.append((number, ResumePoint.after(own)))
    return starts


def owner_of(package: PackagePlan, chunk: ChunkRecord) -> int:
    """The number of the part that wrote `chunk` (its file name says it)."""
    for number, part in enumerate(package.parts):
        if part.plan.pipeline.chunk_name(chunk.index) == chunk.path:
            return number
    raise FailedPrecondition(
        f"chunk {chunk.index} ({chunk.path}) belongs to no source of this package: its "
        "sources changed since it started; start a new package"
    )


def build_package_manifest(
    package: PackagePlan,
    chunks: Sequence[ChunkRecord],
    *,
    created_at: datetime,
    finished_at: datetime,
    digest_key_id: str,
    digest_key: bytes,
    created_by: str,
) -> Manifest:
    """The manifest of a package: the first part's, with the sources and schemas of all
    parts in `subject_package` (there is no one source, query or schema).

    The manifest stays in the clear beside an encrypted package's sealed files, so there
    it records `subject_digest`, an HMAC of the subject id under a key derived from the
    server's content digest key (`digest_key`, named by `digest_key_id`) and the creator,
    never the id: a reader with the id, the creator and the server's key can match it,
    nobody else can read or guess-and-check it (other principals included)."""
    base = build_manifest(
        package.first,
        chunks,
        created_at=created_at,
        finished_at=finished_at,
        digest_key_id=digest_key_id,
        created_by=created_by,
    )
    owners = [owner_of(package, chunk) for chunk in chunks]
    parts = []
    for number, part in enumerate(package.parts):
        own = [chunk for chunk, owner in zip(chunks, owners, strict=True) if owner == number]
        parts.append(
            PackagePart(
                source=part.source_name,
                format=part.format,
                subject_column=part.subject_column,
                description=part.description,
                records=sum(chunk.records for chunk in own),
                chunks=tuple(chunk.index for chunk in own),
                schema=schema_fields(part.plan),
            )
        )
    return replace(
        base,
        source=SourceInfo(template=package.spec.template),
        query=QueryInfo(),
        output=replace(base.output, format="+".join(PACKAGE_FORMATS)),
        schema=(),
        subject_package=_subject_info(package, tuple(parts), digest_key, created_by),
    )


def is_sealed(package: PackagePlan) -> bool:
    """Whether the package's files are encrypted (AES zip or age)."""
    cipher = package.first.pipeline.cipher
    return cipher.name == ZIP_AES_SCHEME or bool(cipher.extension)


def subject_digest(subject_id: str, key: bytes, created_by: str) -> str:
    """Under a key of the package's creator: with one key for the whole server, any
    principal making a package for a guessed subject would find it among another's
    packages by an equal digest."""
    scope = json.dumps([created_by], ensure_ascii=True).encode()
    creators = hmac.new(key, _SUBJECT_DIGEST_DOMAIN + b"creator " + scope, hashlib.sha256)
    mac = hmac.new(creators.digest(), subject_id.encode(), hashlib.sha256)
    return f"hmac-sha256:{mac.hexdigest()}"


def _subject_info(
    package: PackagePlan, parts: tuple[PackagePart, ...], key: bytes, created_by: str
) -> SubjectPackageInfo:
    if is_sealed(package):
        digest = subject_digest(package.subject_id, key, created_by)
        return SubjectPackageInfo(parts=parts, subject_digest=digest)
    return SubjectPackageInfo(subject_id=package.subject_id, parts=parts)
