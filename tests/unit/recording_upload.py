"""A resumable writer over no store at all: it records every request the shared
resumable logic makes, in order ("exists", "start", "part1", "complete", "ABORT"), so
tests see exactly what would have been sent. Parts of PART bytes; a part listed in
`fail_once` fails its first attempt as a throttled store would."""

from __future__ import annotations

import threading

from sluice.sinks.base import UploadJournal
from sluice.sinks.errors import StorageUnavailable
from sluice.sinks.resumable import ResumableWriter
from sluice.sinks.upload_state import PartRecord, StoredPart, UploadState

PART = 4


class RecordingUpload(ResumableWriter):
    backend = "recording"

    def __init__(
        self,
        journal: UploadJournal | None,
        *,
        concurrency: int = 1,
        fail_once: frozenset[int] = frozenset(),
    ) -> None:
        super().__init__(
            "k",
            location="recording://k",
            part_size=PART,
            overwrite=False,
            journal=journal,
            concurrency=concurrency,
        )
        self.calls: list[str] = []
        self._fail_once = set(fail_once)
        self._lock = threading.Lock()

    def _record(self, call: str) -> None:
        with self._lock:
            self.calls.append(call)

    def _start(self) -> str:
        self._record("start")
        return "upload-1"

    def _list_stored(self, state: UploadState) -> dict[int, StoredPart] | None:
        self._record("list")
        return {}

    def _send_part(self, state: UploadState, number: int, payload: bytes, sha256: bytes) -> str:
        self._record(f"part{number}")
        if number in self._fail_once:
            self._fail_once.discard(number)
            raise StorageUnavailable(f"part {number} was lost on the way", location=self.location)
        return f"tag{number}"

    def _expected_tag(self, number: int, sha256_hex: str, md5_hex: str) -> str:
        return ""

    def _complete(self, state: UploadState, sha256_hex: str) -> None:
        self._record("complete")

    def _put_whole(self, payload: bytes, sha256_hex: str) -> None:
        self._record("put")

    def _matches_stored_object(self, size: int, sha256_hex: str, parts: list[PartRecord]) -> bool:
        self._record("verify")
        return True

    def _object_exists(self) -> bool:
        self._record("exists")
        return False

    def abort_remote(self, state: UploadState) -> None:
        self._record("ABORT")
