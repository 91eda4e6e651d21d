"""The part of a resumable upload that S3 and Azure share: cutting the stream into parts,
journalling every stored part, and skipping parts a previous process already stored.

A backend supplies the requests (start, send a part, list stored parts, complete, put a
small object whole, abort, describe the stored object); this module decides when to make
them. Which requests may still be made once the upload is handed over to another holder,
the journal writes and the abort are the upload's hold on it: see journalled_upload.

A writer told to `replace_stale` (its caller vouches that no record names the object:
neither a journalled chunk nor a manifest) replaces an object it finds under the key with
other bytes instead of failing on it, and keeps one with the same bytes: see stale_objects.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from abc import abstractmethod
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from sluice.sinks import stale_objects
from sluice.sinks.base import ObjectInfo, UploadJournal
from sluice.sinks.errors import (
    IntegrityError,
    JournalRefused,
    ObjectExists,
    ObjectNotFound,
    StorageError,
    StorageUnavailable,
)
from sluice.sinks.journalled_upload import JournalledUpload
from sluice.sinks.part_spool import PartSpool
from sluice.sinks.upload_state import PartRecord, StoredPart, UploadState

log = logging.getLogger("sluice.sinks")

MiB = 1024 * 1024
#: S3's smallest part (except the last); Azure blocks follow the same size for symmetry.
MIN_PART_SIZE = 5 * MiB
DEFAULT_PART_SIZE = 8 * MiB


class ResumableWriter(JournalledUpload):
    """A SinkWriter that uploads in parts and can continue a journalled upload."""

    def __init__(
        self,
        key: str,
        *,
        location: str,
        part_size: int,
        overwrite: bool,
        journal: UploadJournal | None,
        concurrency: int = 1,
        replace_stale: bool = False,
    ) -> None:
        if replace_stale and (overwrite or journal is None):
            # Without a journal there is no fenced write to make before the replace.
            raise ValueError("replace_stale needs overwrite=False and a journal")
        super().__init__(key, location=location, journal=journal)
        self.part_size = part_size
        self.overwrite = overwrite
        self.replace_stale = replace_stale
        self._buffer = bytearray()
        self._size = 0
        self._whole_sha256 = hashlib.sha256()
        self._stored: dict[int, list[StoredPart]] = {}
        self._journalled: dict[int, PartRecord] = {}
        #: While verifying with `replace_stale`: the parts re-produced, to replace from.
        self._spool: PartSpool | None = None
        self._status = "open"
        self._next_number = 1
        #: Parts being sent by worker threads: future -> (number, size, sha256, md5).
        self._concurrency = concurrency
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight: dict[Future[str], tuple[int, int, str, str]] = {}
        #: Bytes actually sent, and bytes skipped because a previous process stored them.
        self.sent_bytes = 0
        self.skipped_bytes = 0

    # Backend requests.

    @abstractmethod
    def _start(self) -> str:
        """Begin a multipart upload; return its id ("" when the store needs none)."""

    @abstractmethod
    def _list_stored(self, state: UploadState) -> dict[int, list[StoredPart]] | None:
        """Parts the store holds for `state` by number, every one of each (Azure keeps the
        blocks of one number that several writers staged), or None when the upload no
        longer exists."""

    @abstractmethod
    def _send_part(self, state: UploadState, number: int, payload: bytes, sha256: bytes) -> str:
        """Store one part; return its tag (S3 ETag, Azure block id)."""

    @abstractmethod
    def _expected_tag(self, number: int, sha256_hex: str, md5_hex: str) -> str:
        """The tag a part with these digests has when stored ("" if unknowable)."""

    @abstractmethod
    def _complete(self, state: UploadState, sha256_hex: str, replacing: str = "") -> None:
        """Publish the parts as the object; raise ObjectExists when overwrite is refused.
        With `replacing` (a version from _stored_version) the store replaces the object
        only while it is still that version, else raises ObjectExists (ObjectNotFound
        when it is gone)."""

    @abstractmethod
    def _put_whole(self, payload: bytes, sha256_hex: str) -> None:
        """Store a small object in one request; raise ObjectExists when refused."""

    @abstractmethod
    def _matches_stored_object(self, size: int, sha256_hex: str, parts: list[PartRecord]) -> bool:
        """Whether the object now under the key is exactly these bytes."""

    @abstractmethod
    def _object_exists(self) -> bool:
        """Whether an object is stored under the key."""

    @abstractmethod
    def _stored_version(self) -> str | None:
        """The version (ETag) of the object stored under the key; None when there is none."""

    @abstractmethod
    def _make_stale(self, version: str) -> None:
        """Keep the object stored under the key (the bytes written) but make `version`
        stale, so a replace conditional on it fails, where the store allows it without
        changing the bytes (see stale_objects); raise ObjectExists when the object is no
        longer that version (ObjectNotFound when it is gone)."""

    # The SinkWriter contract.

    def _ensure_open(self) -> None:
        if self._status != "open":
            raise ValueError(f"writer for {self.key!r} is already {self._status}")

    def write(self, data: bytes | memoryview) -> None:
        self._ensure_open()
        self._buffer += data
        self._size += memoryview(data).nbytes
        self._whole_sha256.update(data)
        while len(self._buffer) >= self.part_size:
            # One copy into the part: a slice of the bytearray was a second one (a
            # bytearray, then its bytes). The view is released before the front goes.
            with memoryview(self._buffer) as buffered:
                part = bytes(buffered[: self.part_size])
            self._store_part(part)
            del self._buffer[: self.part_size]

    def commit(self) -> ObjectInfo:
        self._ensure_open()
        self._status = "committed"
        sha256_hex = self._whole_sha256.hexdigest()
        try:
            whole = self._state is None and self._journal_state() is None
            if whole and self._publish(
                lambda: self._put_whole(bytes(self._buffer), sha256_hex), []
            ):
                # A stale object with other bytes: replaced by an upload of parts (here
                # one), since only a completion comes after the fencing journal write.
                self._state = self._start_upload()
                self._store_part(bytes(self._buffer))
                self._complete_parts(sha256_hex)
            elif not whole:
                if self._buffer or self._state is None:
                    self._store_part(bytes(self._buffer))
                self._complete_parts(sha256_hex)
        except BaseException:
            self._abandon()
            raise
        self._buffer = bytearray()
        self._drain()
        self._drop_spool()
        self._clear()
        if self.skipped_bytes:
            log.info(
                "continued upload of %s: %d bytes already stored were verified and skipped, "
                "%d bytes sent",
                self.location,
                self.skipped_bytes,
                self.sent_bytes,
            )
        return ObjectInfo(self.key, self._size)

    def abort(self) -> None:
        if self._status != "open":
            return
        self._status = "aborted"
        self._buffer = bytearray()
        self._abandon()

    def suspend(self) -> None:
        """Leave the upload open and journalled for the next writer of this key: parts in
        flight finish and are journalled, the bytes still buffered (less than a part) are
        dropped, since the caller re-produces the object from its start anyway. Handed
        over, the upload is left as it is: parts not yet sent are dropped, the requests
        under way finish before this returns, and nothing is journalled."""
        if self._status != "open":
            return
        if self._journal is None:
            self.abort()  # an upload no journal names could never be continued or found
            return
        self._status = "suspended"
        self._buffer = bytearray()
        self._drop_spool()  # the next writer re-produces the parts anyway
        try:
            if not self._handed_over():
                self._collect(keep=0)
        except JournalRefused as exc:
            # Refused by the lease's fence, or a store that cannot be reached: what the
            # journal holds stays, and the next writer recognises the parts stored since
            # by their tags, or sends them again.
            log.warning("could not journal a part of %s while suspending: %s", self.location, exc)
        except StorageError as exc:
            # The journal still names the upload and the store lists what it holds, so
            # the next writer loses at most the part that failed here.
            log.warning("a part of %s failed while suspending: %s", self.location, exc)
        finally:
            self._drain()
        if self._handed_over() and self._abort_unnamed():
            return
        if self._state is not None:
            log.info(
                "suspended the upload of %s after %d stored part(s); %s",
                self.location,
                len(self._state.parts),
                # Handed over for a lost lease, or for a store that could not confirm
                # it: whoever runs the export next (this replica or another) continues it.
                "handed over, the export's next holder continues it"
                if self._handed_over()
                else "the next run continues it",
            )

    # Internals.

    def _complete_parts(self, sha256_hex: str) -> None:
        self._collect(keep=0)
        state = self._state
        assert state is not None
        parts = sorted(state.parts, key=lambda part: part.number)
        if self._verify_only:
            if self._spool is None:
                if self.matches(parts):
                    return
                raise IntegrityError(
                    f"object {self.key!r} was completed by an earlier run with other bytes",
                    location=self.location,
                )
            if not stale_objects.keep_if_identical(self, parts):
                stale_objects.replace_from_spool(self, self._spool, sha256_hex, parts)
            return
        state.completing = True
        self.save_to_journal()
        if self.publish_upload(state, sha256_hex, parts):
            stale_objects.replace(self, state, sha256_hex, parts)

    def _publish(self, request: Callable[[], None], parts: list[PartRecord]) -> bool:
        """Make the completing request, then check what the store holds. A refused
        overwrite is fine when the object there is byte-identical: a duplicate run (or a
        retry after a crash right after completing) must neither overwrite nor fail.
        Whether the object there is stale: other bytes, which `replace_stale` replaces."""
        try:
            self._request(request, "complete upload of")
        except (ObjectExists, ObjectNotFound) as exc:
            # ObjectNotFound: a retried completion whose first attempt succeeded but whose
            # answer was lost finds its upload gone. Either way, the stored bytes decide.
            if self.replace_stale:
                # Kept only once its version examined is made stale (see stale_objects).
                if stale_objects.keep_if_identical(self, parts):
                    return False
            elif self.matches(parts):
                self.discard_unpublished(parts)
                return False
            if isinstance(exc, ObjectExists):
                if self.replace_stale:
                    return True
                raise ObjectExists(
                    f"object {self.key!r} already exists", location=self.location
                ) from exc
            if parts:
                # The upload is gone from the store, and with it every further attempt
                # of this one: aborted by the lease's new holder, maybe (see
                # stale_objects.replace), so this journal write decides, handing the
                # upload over when refused; else the export's next attempt starts anew.
                self.save_to_journal()
                if not self.replace_stale and self._request(self._object_exists, "look up"):
                    # Other bytes there, which this writer may not replace: the next
                    # attempt would meet them too, so they are the answer now.
                    raise ObjectExists(
                        f"object {self.key!r} already exists", location=self.location
                    ) from exc
                raise StorageUnavailable(
                    f"cannot complete {self.location}: its upload is gone from the store; "
                    "the next attempt uploads it again",
                    location=self.location,
                ) from exc
            raise
        self.verify_published(parts)
        return False

    def _drop_spool(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    # What stale_objects asks of the writer (its StaleObjectWriter contract), and the
    # writer of itself.

    def verify_published(self, parts: list[PartRecord]) -> None:
        """Raise IntegrityError unless the object stored is exactly the bytes written."""
        if not self.matches(parts):
            raise IntegrityError(
                f"object {self.key!r} does not hold the bytes just uploaded "
                f"({self._size} bytes, sha256 {self._whole_sha256.hexdigest()})",
                location=self.location,
            )

    def matches(self, parts: list[PartRecord]) -> bool:
        """Whether the object stored under the key is exactly the bytes written."""
        sha256_hex = self._whole_sha256.hexdigest()
        return self._request(
            lambda: self._matches_stored_object(self._size, sha256_hex, parts), "verify"
        )

    def look_up_version(self) -> str | None:
        """The version of the object stored under the key; None when there is none."""
        return self._request(self._stored_version, "look up")

    def keep(self, version: str) -> None:
        """Keep the object stored under the key, its `version` made stale (_make_stale)."""
        self._request(lambda: self._make_stale(version), "keep")

    def publish_upload(self, state: UploadState, sha256_hex: str, parts: list[PartRecord]) -> bool:
        """Complete the upload as the object (see _publish): whether the object already
        there is stale."""
        return self._publish(lambda: self._complete(state, sha256_hex), parts)

    def complete_replacing(self, state: UploadState, sha256_hex: str, version: str) -> None:
        """Complete the upload over the object at `version` and only while it is that
        version; fenced: each attempt follows a journal write of its own."""
        self._request(
            functools.partial(self._complete, state, sha256_hex, version),
            "replace stale object",
            fenced=True,
        )

    def upload_again(self, verified: list[PartRecord], payloads: Iterable[bytes]) -> UploadState:
        """A new upload of the parts a verification found stale, sent from `payloads`
        (their bytes, re-read from the spool, which is dropped once they are stored)."""
        self._verify_only = False
        self.skipped_bytes = 0  # verified, not skipped: every byte is sent now
        # No journal has named this upload yet (the entries saved while verifying named
        # none, or the completed one), so a refused first write still aborts it.
        self._named_in_journal = False
        self._state = state = self._start_upload()
        for record, payload in zip(verified, payloads, strict=True):
            self._send(state, record.number, payload, record.sha256, record.md5)
        self._collect(keep=0)
        self._drop_spool()
        return state

    def _begin(self) -> UploadState:
        """Continue the journalled upload when the store still holds it, else start one."""
        previous = self._journal_state()
        if previous is not None and previous.part_size == self.part_size:
            stored = self._request(lambda: self._list_stored(previous), "list parts of")
            if stored is not None:
                self._stored = stored
                self._journalled = {part.number: part for part in previous.parts}
                self._named_in_journal = True
                self._inherited_upload = previous.upload_id
                previous.parts = []
                previous.completing = False
                return previous
            if previous.completing:
                # Completed just before the crash: re-derive the part digests, then check
                # the stored object instead of uploading anything.
                previous.parts = []
                return self._verify_instead(previous)
        elif previous is not None:
            failure = self._abort_failure(previous)
            if failure is not None and self.replace_stale:
                # A previous holder's upload may be about to replace the object with it.
                raise self._abort_refused(
                    f"cannot write {self.location}: the upload the journal names could not "
                    f"be aborted ({failure})",
                    failure,
                ) from failure
        if not self.overwrite and self._request(self._object_exists, "look up"):
            # Published by an earlier run whose journal entry is gone (killed between
            # completing and journalling the chunk): verify it instead of uploading again.
            return self._verify_instead(
                UploadState(backend=self.backend, key=self.key, part_size=self.part_size)
            )
        return self._start_upload()

    def _verify_instead(self, state: UploadState) -> UploadState:
        """Verify the object stored under the key rather than upload one. A writer that
        may replace a stale one keeps the parts on local disk meanwhile: they may differ,
        and would be gone by the time the verification could tell."""
        self._verify_only = True
        if self.replace_stale:
            self._spool = PartSpool(self.location)
        return state

    def _start_upload(self) -> UploadState:
        return UploadState(
            backend=self.backend,
            key=self.key,
            part_size=self.part_size,
            upload_id=self._request(self._start, "start upload of"),
        )

    def _store_part(self, payload: bytes) -> None:
        if self._state is None:
            self._state = self._begin()
        state = self._state
        number = self._next_number
        self._next_number += 1
        sha256_hex = hashlib.sha256(payload).hexdigest()
        md5_hex = hashlib.md5(payload, usedforsecurity=False).hexdigest()
        tag = self._already_stored(number, len(payload), sha256_hex, md5_hex)
        if tag is not None or self._verify_only:
            if self._spool is not None:
                self._spool.append(payload)
            self.skipped_bytes += len(payload)
            state.parts.append(PartRecord(number, len(payload), sha256_hex, md5_hex, tag or ""))
            self.save_to_journal()
            return
        self._send(state, number, payload, sha256_hex, md5_hex)

    def _send(
        self, state: UploadState, number: int, payload: bytes, sha256_hex: str, md5_hex: str
    ) -> None:
        """Send part `number` on a worker thread, journalled once stored (_collect)."""
        sha256 = bytes.fromhex(sha256_hex)

        def send() -> str:
            return self._request(
                lambda: self._send_part(state, number, payload, sha256),
                f"upload part {number} of",
            )

        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._concurrency, "sluice-upload")
        self._in_flight[self._pool.submit(send)] = (number, len(payload), sha256_hex, md5_hex)
        # Bounded: at most `concurrency` parts (their bytes) are held at once.
        self._collect(keep=self._concurrency - 1)

    def _collect(self, keep: int) -> None:
        """Wait until at most `keep` parts are in flight, journalling each stored one (on
        this thread: the journal is the caller's)."""
        state = self._state
        while len(self._in_flight) > keep and state is not None:
            done, _ = wait(list(self._in_flight), return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: self._in_flight[f][0]):
                number, size, sha256_hex, md5_hex = self._in_flight.pop(future)
                tag = future.result()
                self.sent_bytes += size
                state.parts.append(PartRecord(number, size, sha256_hex, md5_hex, tag))
                self.save_to_journal()

    def _drain(self) -> None:
        """Drop the parts not yet started and let those in flight finish or fail, so no
        part follows an abort or a hand-over."""
        for future in self._in_flight:
            future.cancel()
        wait(list(self._in_flight))
        self._in_flight.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _already_stored(self, number: int, size: int, sha256_hex: str, md5_hex: str) -> str | None:
        """The tag of part `number` if the store already holds exactly these bytes."""
        sizes = {part.tag: part.size for part in self._stored.get(number, [])}
        journalled = self._journalled.get(number)
        if (
            journalled is not None
            and journalled.sha256 == sha256_hex
            and sizes.get(journalled.tag) == size
        ):
            return journalled.tag
        # Stored but not journalled (killed between the two): recognise it by its tag.
        expected = self._expected_tag(number, sha256_hex, md5_hex)
        return expected if expected and sizes.get(expected) == size else None

    def _abandon(self) -> None:
        """Stop sending parts, then abort the upload or leave it to its new holder
        (never raising: this runs in error paths)."""
        self._drain()
        self._drop_spool()
        self._abort_or_leave()
