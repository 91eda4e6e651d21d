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
  the version it examined stale without changing its bytes (`_make_stale`): a replace
  conditional on that version, fenced before the lease changed hands, then fails.
  On Azure that is a metadata write conditional on the version (it changes the ETag),
  but for an immutable blob (retention policy, legal hold), which no one can replace;
  S3's ETag follows the bytes, so there the previous holder's upload itself is what
  fails: the journal named it, and the keeping writer continued it (overwriting its
  parts) or aborted it, and must have.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

from sluice.sinks.errors import IntegrityError, ObjectExists, ObjectNotFound, StorageUnavailable
from sluice.sinks.upload_state import PartRecord, UploadState

if TYPE_CHECKING:
    from sluice.sinks.part_spool import PartSpool
    from sluice.sinks.resumable import ResumableWriter

log = logging.getLogger("sluice.sinks")

#: How often a stale object is examined and replaced (or kept) before giving up: each
#: further attempt means the object changed in between (another writer is at work).
ATTEMPTS = 3


def keep_if_identical(writer: ResumableWriter, parts: list[PartRecord]) -> bool:
    """Whether the object under the key holds exactly the bytes written, and is kept:
    its version examined is made stale first, and the upload made for it dropped."""
    for _ in range(ATTEMPTS):
        version = writer._request(writer._stored_version, "look up")
        if version is None or not writer._matches(parts):
            return False
        if _kept(writer, version, parts):
            return True
    raise _kept_changing(writer)


def replace(
    writer: ResumableWriter, state: UploadState, sha256_hex: str, parts: list[PartRecord]
) -> None:
    """Complete the upload over the stale object found under the key. Its version is
    read before its bytes are compared, and the completion is conditional on it: an
    object changed in between (another writer at work) is examined again."""
    for _ in range(ATTEMPTS):
        version = writer._request(writer._stored_version, "look up")
        if version is None:
            # Gone since (swept by hand?): published as a new object after all.
            if not writer._publish(lambda: writer._complete(state, sha256_hex), parts):
                return
            continue
        if writer._matches(parts):
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
            writer._request(
                functools.partial(writer._complete, state, sha256_hex, version),
                "replace stale object",
                fenced=True,
            )
        except ObjectExists:
            continue  # changed since it was examined: examined again
        except ObjectNotFound as exc:
            # A retried completion whose answer was lost (then the bytes are there), or
            # an upload the store no longer holds: after S3's 409 ConditionalRequestConflict,
            # or aborted by a holder that lost the lease. Every further attempt would fail
            # the same way; the export's next attempt starts a fresh one.
            if writer._matches(parts):
                writer._discard_unpublished(parts)
                return
            # Aborted by the lease's new holder, maybe, who continued it: unless this
            # journal write finds the lease still this run's (else JournalRefused hands
            # the upload over), the failure must not lead to an abort of it.
            writer._save()
            raise StorageUnavailable(
                f"cannot replace {writer.location}: its upload is gone from the store; "
                "the next attempt uploads it again",
                location=writer.location,
            ) from exc
        writer._verify_published(parts)
        return
    raise _kept_changing(writer)


def replace_from_spool(
    writer: ResumableWriter, spool: PartSpool, sha256_hex: str, verified: list[PartRecord]
) -> None:
    """The object found before uploading holds other bytes: upload the parts just
    verified against it, from the spool, as a new upload, and replace it with them.
    (An upload a `completing` journal named is gone: that is how it was found.)"""
    payloads = spool.parts([part.size for part in verified])
    state = writer._restart_upload()
    for record, payload in zip(verified, payloads, strict=True):
        writer._send(state, record.number, payload, record.sha256, record.md5)
    writer._collect(keep=0)
    writer._drop_spool()
    state.completing = True
    writer._save()
    replace(writer, state, sha256_hex, sorted(state.parts, key=lambda part: part.number))


def _kept(writer: ResumableWriter, version: str, parts: list[PartRecord]) -> bool:
    """Keep the identical object at `version`: whether it was still that version."""
    try:
        writer._request(lambda: writer._make_stale(version), "keep")
    except (ObjectExists, ObjectNotFound):
        return False  # changed or removed since it was examined
    writer._discard_unpublished(parts, strictly=True)
    return True


def _kept_changing(writer: ResumableWriter) -> IntegrityError:
    return IntegrityError(
        f"object {writer.key!r} kept changing while a stale copy was being replaced",
        location=writer.location,
    )
