"""A resumable writer over no store at all: it records every request the shared
resumable logic makes, in order ("exists", "start", "part1", "complete", "ABORT"), so
tests see exactly what would have been sent. Parts of PART bytes; a part listed in
`fail_once` fails its first attempt as a throttled store would."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import BinaryIO

from sluice.sinks.base import Capabilities, ObjectInfo, UploadJournal
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
        part_size: int = PART,
    ) -> None:
        super().__init__(
            "k",
            location="recording://k",
            part_size=part_size,
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

    def _list_stored(self, state: UploadState) -> dict[int, list[StoredPart]] | None:
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

    def _complete(self, state: UploadState, sha256_hex: str, replacing: str = "") -> None:
        self._record("replace" if replacing else "complete")

    def _put_whole(self, payload: bytes, sha256_hex: str) -> None:
        self._record("put")

    def _matches_stored_object(self, size: int, sha256_hex: str, parts: list[PartRecord]) -> bool:
        self._record("verify")
        return True

    def _object_exists(self) -> bool:
        self._record("exists")
        return False

    def _stored_version(self) -> str | None:
        self._record("version")
        return None

    def _make_stale(self, version: str) -> None:
        self._record("keep")

    def abort_remote(self, state: UploadState) -> None:
        self._record("ABORT")


class RecordingSink:
    """A Sink whose objects are written by RecordingUploads (`writers` by key, `writer`
    the last one), made by `make` when given; nothing is ever stored."""

    def __init__(
        self,
        *,
        fail_once: frozenset[int] = frozenset(),
        make: Callable[[str, UploadJournal | None], RecordingUpload] | None = None,
    ) -> None:
        self._fail_once = fail_once
        self._make = make
        self.writers: dict[str, RecordingUpload] = {}
        self.writer: RecordingUpload | None = None

    @property
    def uri(self) -> str:
        return "recording://"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(resumable=True)

    def create(
        self,
        key: str,
        *,
        overwrite: bool = True,
        journal: UploadJournal | None = None,
        replace_stale: bool = False,
    ) -> RecordingUpload:
        if self._make is not None:
            self.writer = self._make(key, journal)
        else:
            self.writer = RecordingUpload(journal, fail_once=self._fail_once)
        self.writers[key] = self.writer
        return self.writer

    def open(self, key: str) -> BinaryIO:
        raise NotImplementedError

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return iter(())

    def remove(self, key: str) -> None:
        pass

    def abort_upload(self, key: str, state: str) -> None:
        pass

    def abort_stray_uploads(self, prefix: str) -> int:
        return 0

    def temporaries(self, prefix: str = "") -> Iterator[str]:
        return iter(())

    def remove_stale_temporaries(self, prefix: str = "") -> int:
        return 0
