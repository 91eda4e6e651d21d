"""The hold a resumable writer has on its upload, until it is handed over: the journal
that names the upload, the requests the writer may still make, and the abort.

Every request goes through the runner `run_requests_with` sets (RetryingSink's retry loop):
each request is idempotent and its payload is immutable bytes, so a retry re-sends
exactly the same bytes. Once the journal says the upload was handed over (the run lost
its lease), no request starts any more, a retry's included: the new holder may be
sending the same part numbers. A journal write refused (JournalRefused: the lease that
fences it is lost, or its store cannot be reached) hands the upload over just the same,
even before the run hears of it: neither an abort nor a completion may follow. The one
exception is an upload no journal ever named (its first journal write was refused): no
other holder can know its id, so it is aborted rather than left unfinished for good.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TypeVar

from sluice.sinks.base import UploadJournal
from sluice.sinks.errors import (
    CredentialsUnavailable,
    JournalRefused,
    StorageAccessDenied,
    StorageError,
    StorageUnavailable,
    UploadHandedOver,
)
from sluice.sinks.upload_state import PartRecord, UploadState

log = logging.getLogger("sluice.sinks")

T = TypeVar("T")
#: Runs one storage request (a no-argument callable), named for logs; calls `admit`
#: (the third argument) before each attempt, the first and every retry, which raises
#: UploadHandedOver when the request may no longer be sent.
RequestRunner = Callable[[Callable[[], T], str, Callable[[], None]], T]


def _run_directly(request: Callable[[], T], _describe: str, admit: Callable[[], None]) -> T:
    admit()
    return request()


class JournalledUpload(ABC):
    """An upload held under a journal until it is handed over (see the module): the part
    of ResumableWriter that decides which requests may still be made, journals the
    upload's state, and aborts or leaves the upload when the writer gives it up."""

    backend = ""

    def __init__(self, key: str, *, location: str, journal: UploadJournal | None) -> None:
        self.key = key
        self.location = location
        self._journal = journal
        self._run: RequestRunner[object] = _run_directly
        self._state: UploadState | None = None
        #: Set once the journal refused a write: the upload may be another holder's now.
        self._journal_refused = False
        #: Whether the journal has named this upload (continued from it, or saved since):
        #: only then can another holder know it and be continuing it.
        self._named_in_journal = False
        #: Whether the writer only verifies an object already stored (no upload of its own).
        self._verify_only = False
        #: The id of an upload continued from the journal: a previous holder's, maybe.
        self._inherited_upload = ""

    def run_requests_with(self, runner: RequestRunner[object]) -> None:
        """Route every storage request through `runner` (RetryingSink's retry loop)."""
        self._run = runner

    def _request(
        self, request: Callable[[], T], describe: str, *, ours: bool = False, fenced: bool = False
    ) -> T:
        """Make a storage request through the runner; refused once the upload is handed
        over, unless it is `ours` (an upload no journal ever named: no one else can
        know it). A `fenced` request follows a journal write at every attempt, a retry's
        included: refused (JournalRefused) once the lease that fences the journal is lost."""
        run: RequestRunner[T] = self._run  # type: ignore[assignment]
        what = f"{describe} {self.location!r}"

        def admit() -> None:
            # Asked before every attempt, apart from the request so that the runner
            # knows a refused retry was never made: a part waiting out a retry's backoff
            # when the upload is handed over is not sent at all.
            if not ours:
                self._refuse_if_handed_over(what)
            if fenced:
                self.save_to_journal()

        return run(request, what, admit)

    def _handed_over(self) -> bool:
        return self._journal_refused or (self._journal is not None and self._journal.handed_over())

    def _refuse_if_handed_over(self, what: str) -> None:
        if self._handed_over():
            raise UploadHandedOver(
                f"{what} not sent: the upload belongs to another holder now",
                location=self.location,
            )

    @abstractmethod
    def abort_remote(self, state: UploadState) -> None:
        """Discard an unfinished upload; an upload already gone is not an error."""

    # The journal.

    def _journal_state(self) -> UploadState | None:
        if self._journal is None:
            return None
        text = self._journal.load()
        if not text:
            return None
        try:
            state = UploadState.from_json(text)
        except (ValueError, TypeError, KeyError):
            log.warning("ignoring unreadable upload state for %s", self.location)
            return None
        if state.backend != self.backend or state.key != self.key:
            return None
        return state

    def save_to_journal(self) -> None:
        """Journal the upload's state; a write refused (JournalRefused) hands it over."""
        # Handed over, the journal is the new holder's (and its fence refuses the write).
        if self._journal is not None and self._state is not None and not self._handed_over():
            journal, text = self._journal, self._state.to_json()
            self._refused_hands_over(lambda: journal.save(text))
            self._named_in_journal = True

    def _clear(self) -> None:
        if self._journal is not None and not self._handed_over():
            self._refused_hands_over(self._journal.clear)

    def _refused_hands_over(self, write: Callable[[], None]) -> None:
        """Make a journal write; once one is refused, the upload counts as handed over
        (its run may not know yet): an abort or a completion could undo, or publish
        over, what the new holder does with the same upload."""
        try:
            write()
        except JournalRefused:
            self._journal_refused = True
            raise

    # Giving the upload up.

    def discard_unpublished(self, parts: list[PartRecord], *, strictly: bool = False) -> None:
        """The store already holds these bytes: the upload just made (if any, with an
        id to name it) is dropped rather than left for the export's final sweep.
        `strictly` when the object is kept for a writer that may replace stale objects:
        an upload continued from the journal may be a previous holder's, about to
        replace the object with it, so it must be gone (see stale_objects)."""
        state = self._state
        if not (parts and state is not None and state.upload_id):
            return
        failure = self._abort_failure(state)
        if failure is None or not strictly:
            return
        if state.upload_id == self._inherited_upload:
            raise self._abort_refused(
                f"cannot keep {self.location}: the upload continued from the journal "
                f"could not be aborted ({failure})",
                failure,
            ) from failure

    def _abort_or_leave(self) -> None:
        """Abort the remote upload (never raising: this runs in error paths). The journal
        is only cleared once the store confirmed, so a later resume can retry. Handed
        over, the upload is left to its new holder, who may be continuing it."""
        if self._handed_over():
            if not self._abort_unnamed():
                log.info("left the upload of %s to its new holder", self.location)
            return
        state = self._state if self._state is not None else self._journal_state()
        if state is None or self._verify_only or self._abort_quietly(state):
            try:
                self._clear()
            except JournalRefused as exc:
                # Refused (and so handed over now): the entry left names an upload the
                # store no longer holds, or none, which the next writer starts over from.
                # The run's own failure, which brought it here, is the one to report.
                log.warning("could not clear the journal of %s: %s", self.location, exc)

    def _abort_unnamed(self) -> bool:
        """Handed over, abort the upload anyway when it was started here and no journal
        ever named it (its first journal write was refused): no other holder can know
        its id, so otherwise it would stay in the store, unfinished, for good. A store
        that stages parts on the object itself (no upload id) shares them with the new
        holder, so is left alone. Whether it aborted."""
        state = self._state
        if state is None or not state.upload_id or self._named_in_journal or self._verify_only:
            return False
        return self._abort_quietly(state, ours=True)

    def _abort_quietly(self, state: UploadState, *, ours: bool = False) -> bool:
        return self._abort_failure(state, ours=ours) is None

    def _abort_refused(self, message: str, failure: StorageError) -> StorageError:
        """The error a run ends with when an abort that must happen failed. A refused
        permission or an unavailable credential stays what it is (PERMISSION_DENIED,
        UNAUTHENTICATED): no retry overcomes it until the storage profile is allowed to
        abort uploads. Anything else may pass, so the next attempt tries again."""
        if isinstance(failure, StorageAccessDenied | CredentialsUnavailable):
            return type(failure)(
                f"{message}; allow the storage profile to abort uploads, then run again",
                location=self.location,
            )
        return StorageUnavailable(
            f"{message}; the next attempt tries again", location=self.location
        )

    def _abort_failure(self, state: UploadState, *, ours: bool = False) -> StorageError | None:
        """Abort the upload; the error it failed with (its last attempt's), if it did:
        an abort that must happen names it in the run's own error, a refused permission
        among them, which no retry overcomes."""
        try:
            self._request(lambda: self.abort_remote(state), "abort upload of", ours=ours)
        except StorageError as exc:
            log.warning("could not abort the upload of %s: %s", self.location, exc)
            return exc
        return None
