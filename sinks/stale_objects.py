"""Keeping or replacing an object a writer told `replace_stale` finds under its key (see
ResumableWriter): left by an earlier run killed between completing it and recording it,
encoded then by another Sluice, Polars or pyarrow, or with other encoder settings. The
replace follows a journal write (so the lease that fences the journal is still this
run's) and is conditional on the version examined just before. A writer that finds the
object before uploading (looked up, or left `completing` by the journal) only verifies
it, sending nothing; the parts it re-produces meanwhile are kept on local disk
(PartSpool), and uploaded from there only when the stored bytes turn out to differ.

Another replica of the export may be doing the same at the same time: one that lost the
export's lease without knowing yet, having passed its fencing journal write just before
the lease changed hands, about to replace the version it examined. Two rules keep it
from undoing what the lease's new holder records:

- every attempt of a replace is fenced by a journal write of its own, a retry's included,
  so a replica that lost the lease sends no replace after it could know;
- a writer that keeps the object it found (its bytes are the ones it produced) first makes
  the version it examined stale without changing its bytes (`keep`): a replace
  conditional on that version, fenced before the lease changed hands, then fails.
  On Azure that is a metadata write conditional on the version (it changes the ETag),
  but for an immutable blob (retention policy, legal hold), which no one can replace;
  S3's ETag follows the bytes, so there the previous holder's upload itself is what
  fails: the journal named it, and the keeping writer continued it (overwriting its
  parts) or aborted it, and must have.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from sluice.sinks.errors import IntegrityError, ObjectExists, ObjectNotFound, StorageUnavailable
from sluice.sinks.upload_state import PartRecord, UploadState

if TYPE_CHECKING:
    from sluice.sinks.part_spool import PartSpool

log = logging.getLogger("sluice.sinks")


class StaleObjectWriter(Protocol):
    """What keeping or replacing a stale object asks of its writer (ResumableWriter).
    Every request goes through the writer's request runner (its retries), and none is
    sent once the upload is handed over to another holder."""

    key: str
    location: str

    def look_up_version(self) -> str | None:
        """The version of the object stored under the key; None when there is none."""
        ...

    def matches(self, parts: list[PartRecord]) -> bool:
        """Whether the object stored under the key is exactly the bytes written."""
        ...

    def keep(self, version: str) -> None:
        """Keep the object, `version` made stale; ObjectExists when it is no longer that
        version, ObjectNotFound when it is gone."""
        ...

    def discard_unpublished(self, parts: list[PartRecord], *, strictly: bool = False) -> None:
        """Drop the upload made for bytes the store already holds; `strictly`: an
        upload continued from the journal must be gone, or this raises."""
        ...

    def publish_upload(self, state: UploadState, sha256_hex: str, parts: list[PartRecord]) -> bool:
        """Complete the upload as a new object: whether the object already there is stale."""
        ...

    def complete_replacing(self, state: UploadState, sha256_hex: str, version: str) -> None:
        """Complete the upload over the object at `version`, fenced by a journal write at
        every attempt; ObjectExists when the object changed, ObjectNotFound when it or
        the upload is gone."""
        ...

    def save_to_journal(self) -> None:
        """Journal the upload's state; refused (JournalRefused), the upload is handed over."""
        ...

    def verify_published(self, parts: list[PartRecord]) -> None:
        """Raise IntegrityError unless the object stored is exactly the bytes written."""
        ...

    def upload_again(self, verified: list[PartRecord], payloads: Iterable[bytes]) -> UploadState:
        """Start a new upload and store the parts verified, from `payloads`."""
        ...


#: How often a stale object is examined and replaced (or kept) before giving up: each
#: further attempt means the object changed in between (another writer is at work).
ATTEMPTS = 3


def keep_if_identical(writer: StaleObjectWriter, parts: list[PartRecord]) -> bool:
    """Whether the object under the key holds exactly the bytes written, and is kept:
    its version examined is made stale first, and the upload made for it dropped."""
    for _ in range(ATTEMPTS):
        version = writer.look_up_version()
        if version is None or not writer.matches(parts):
            return False
        if _kept(writer, version, parts):
            return True
    raise _kept_changing(writer)


def replace(
    writer: StaleObjectWriter, state: UploadState, sha256_hex: str, parts: list[PartRecord]
) -> None:
    """Complete the upload over the stale object found under the key. Its version is
    read before its bytes are compared, and the completion is conditional on it: an
    object changed in between (another writer at work) is examined again."""
    for _ in range(ATTEMPTS):
        version = writer.look_up_version()
        if version is None:
            # Gone since (swept by hand?): published as a new object after all.
            if not writer.publish_upload(state, sha256_hex, parts):
                return
            continue
        if writer.matches(parts):
            if _kept(writer, version, parts):
                return
            continue
        log.warning(
            "replacing %s: an earlier run completed it with other bytes but never "
            "recorded it (another encoder version or setting); no record names it",
            writer.location,
        )
        try:
            # Fenced: each attempt follows a journal write, refused (JournalRefused)
            # unless the run still holds the export's lease; the condition on `version`
            # covers the moment between that write and the request.
            writer.complete_replacing(state, sha256_hex, version)
        except ObjectExists:
            continue  # changed since it was examined: examined again
        except ObjectNotFound as exc:
            # A retried completion whose answer was lost (then the bytes are there), or
            # an upload the store no longer holds: after S3's 409 ConditionalRequestConflict,
            # or aborted by a holder that lost the lease. Every further attempt would fail
            # the same way; the export's next attempt starts a fresh one.
            if writer.matches(parts):
                writer.discard_unpublished(parts)
                return
            # Aborted by the lease's new holder, maybe, who continued it: unless this
            # journal write finds the lease still this run's (else JournalRefused hands
            # the upload over), the failure must not lead to an abort of it.
            writer.save_to_journal()
            raise StorageUnavailable(
                f"cannot replace {writer.location}: its upload is gone from the store; "
                "the next attempt uploads it again",
                location=writer.location,
            ) from exc
        writer.verify_published(parts)
        return
    raise _kept_changing(writer)


def replace_from_spool(
    writer: StaleObjectWriter, spool: PartSpool, sha256_hex: str, verified: list[PartRecord]
) -> None:
    """The object found before uploading holds other bytes: upload the parts just
    verified against it, from the spool, as a new upload, and replace it with them.
    (An upload a `completing` journal named is gone: that is how it was found.)"""
    payloads = spool.parts([part.size for part in verified])
    state = writer.upload_again(verified, payloads)
    state.completing = True
    writer.save_to_journal()
    replace(writer, state, sha256_hex, sorted(state.parts, key=lambda part: part.number))


def _kept(writer: StaleObjectWriter, version: str, parts: list[PartRecord]) -> bool:
    """Keep the identical object at `version`: whether it was still that version."""
    try:
        writer.keep(version)
    except (ObjectExists, ObjectNotFound):
        return False  # changed or removed since it was examined
    writer.discard_unpublished(parts, strictly=True)
    return True


def _kept_changing(writer: StaleObjectWriter) -> IntegrityError:
    return IntegrityError(
        f"object {writer.key!r} kept changing while a stale copy was being replaced",
        location=writer.location,
    )
