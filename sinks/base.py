"""The storage contract every destination implements.

A Sink stores objects under keys relative to its root ("dataset/export/part-000000.jsonl.zst").
It stays a handful of methods; retries, concurrency limits and logging are wrappers
(see sinks/retry.py) stacked in one place (sinks/factory.py). Duties only some stores
have (discarding open uploads, sweeping temporary files) are methods of every sink, a
no-op where there is nothing to do, so callers never ask which store they hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol


@dataclass(frozen=True)
class Capabilities:
    """What a backend can promise; callers adapt instead of guessing. (Every sink commits
    atomically and enforces overwrite=False itself: that is the contract, not a flag.)"""

    #: An interrupted upload can be continued by a new process (`create` uses `journal`).
    resumable: bool


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    #: What tells this version of the object from one written later, even with the same
    #: size: S3's ETag, Azure's etag, a local file's inode and modification time, the
    #: memory sink's sha256. Listings fill it; "" where a call does not say (commit).
    version: str = ""


class UploadJournal(Protocol):
    """Durable storage for the state of one resumable upload (owned by the job store).

    A resumable writer saves its state (upload id, parts, digests: opaque JSON text) after
    every part, so a new process can continue the upload instead of starting over.
    """

    def load(self) -> str | None:
        """The state saved by an earlier writer of this object, if any."""
        ...

    def save(self, state: str) -> None:
        """Replace the saved state; it must be durable when this returns. Raises
        JournalRefused when the write is refused (the lease fencing the journal is lost)
        or cannot be made (the store holding it is unreachable): the writer then holds
        the upload handed over."""
        ...

    def clear(self) -> None:
        """Forget the upload once it completed or was aborted (JournalRefused as save)."""
        ...

    def handed_over(self) -> bool:
        """Whether the upload belongs to another holder now: the run journalling it lost
        the lease that fences this journal, or could not confirm it. The new holder may
        be continuing the same upload, where a late part would replace its part of the
        same number, so the writer then sends no further request and journals nothing
        more. Asked before every request: it must not wait on the store."""
        ...

    def wait_handed_over(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds, less once the upload is handed over; return
        handed_over(). A request waits out its retry backoff here, so a hand-over ends
        the wait at once (the retry is then refused) instead of holding the writer's
        suspend until the backoff is over. Never waits on the store."""
        ...


class SinkWriter(Protocol):
    """A streaming write of one object. Nothing is visible under the key until commit()."""

    def write(self, data: bytes | memoryview) -> None: ...

    def commit(self) -> ObjectInfo:
        """Publish the object atomically. Raises ObjectExists when overwrite was refused."""
        ...

    def abort(self) -> None:
        """Give up the object: nothing written is ever published. What the store keeps
        of the upload meanwhile: see `Sink.abort_upload`. Safe to call after a failure
        or twice."""
        ...

    def suspend(self) -> None:
        """Stop writing but keep what the store already holds, so that a later writer
        given the same journal continues the upload (a graceful shutdown, or a lost
        lease). Parts in flight finish and are journalled, unless the journal says the
        upload was handed over: then parts not yet sent are dropped, those in flight
        finish, nothing is journalled and no request starts after this returns (but the
        abort of an upload no journal ever named, which no other holder can know). Unsent
        bytes are dropped, since the caller re-produces them. Writers that cannot
        resume abort instead (a local temporary file goes). Like abort, safe to call
        twice or after commit, and never raises for a storage or journal failure.

        Whoever suspends owns the leftover upload: it must later be continued, or
        aborted with `Sink.abort_upload` (see there for what the store keeps of it).
        """
        ...


class Sink(Protocol):
    """A place that stores objects by key: a local folder, a bucket, a container."""

    @property
    def uri(self) -> str:
        """The root this sink writes under, without credentials."""
        ...

    @property
    def capabilities(self) -> Capabilities: ...

    def create(
        self,
        key: str,
        *,
        overwrite: bool = True,
        journal: UploadJournal | None = None,
        replace_stale: bool = False,
    ) -> SinkWriter:
        """Start writing `key`. With overwrite=False, commit fails if the key exists.

        Resumable backends (`capabilities.resumable`) save their upload state in `journal`
        after every part and continue the upload it holds; the others ignore it. They
        accept an object already under the key that holds exactly the bytes written
        (a run killed between publishing and recording it), and with `replace_stale`
        (needs overwrite=False and a journal: the caller vouches that no record, such
        as a journalled chunk or a manifest, names the object) they replace one with
        other bytes, after a journal write (which the caller's lease fences) and only
        while it is still the version examined. The others ignore `replace_stale`.
        """
        ...

    def open(self, key: str) -> BinaryIO:
        """Read a committed object. Raises ObjectNotFound. S3 and Azure give a
        RangedObject (sinks/ranged_read), which says the version it was opened at."""
        ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Committed objects whose key starts with prefix, in key order, each with its
        size and version (ObjectInfo.version, which a listing fills)."""
        ...

    def remove(self, key: str) -> None:
        """Delete an object; removing a missing key is not an error. Stores with real
        folders also remove the object's folder when that leaves it empty (an export's
        folder disappears with its last object); its parents stay."""
        ...

    # Cleaning up after writers that never finished. A writer's own abort() cleans up
    # after itself; these find what a killed process, or a suspended writer never
    # continued, left in the store.

    def abort_upload(self, key: str, state: str) -> None:
        """Abort the unfinished upload `state` (saved in an UploadJournal) of `key`: it
        is never completed after; an upload already gone is not an error. S3 discards
        its parts. Azure sends nothing: its staged blocks stay uncommitted, invisible
        and never part of a blob, until the key's next commit drops them or Azure
        deletes them a week after the blob's last Put Block (Azure drops them only with
        a commit, which creates a blob that a write-once container never lets anyone
        delete). Sinks that are not resumable never journal one: nothing to do."""
        ...

    def abort_stray_uploads(self, prefix: str) -> int:
        """Abort every upload still open under `prefix`, journalled or not (a process
        killed between starting an upload and journalling it leaves one only the store
        knows about); returns how many. Call only when no writer under `prefix` is
        active. 0 for stores without server-side uploads, or that expire them alone."""
        ...

    def temporaries(self, prefix: str = "") -> Iterator[str]:
        """Keys of the temporary files under `prefix`, in key order: writers in flight,
        or stale ones a killed writer left. Never in list(). Empty for stores that hold
        unfinished writes out of sight (memory, multipart and block uploads)."""
        ...

    def remove_stale_temporaries(self, prefix: str = "") -> int:
        """Delete the temporaries under `prefix` (see temporaries()); returns how many.
        Call only when no writer of this process or another is active under `prefix`
        (on resume after a crash), or their writes will fail."""
        ...


def validate_key(key: str) -> str:
    """Return `key` if it is a safe relative key, else raise ValueError.

    Keys become file paths on local storage, so anything that could escape the root or
    alias another key ("a//b" and "a/b", "a/./b") is refused by every backend alike.
    """
    if not key:
        raise ValueError("object key is empty")
    if "\\" in key or "\0" in key:
        raise ValueError(f"object key {key!r} contains a backslash or NUL")
    if key.startswith("/"):
        raise ValueError(f"object key {key!r} is absolute")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise ValueError(f"object key {key!r} has an empty, '.' or '..' segment")
    return key


def join_key(*parts: str) -> str:
    """Join key segments with '/', ignoring empty ones."""
    return "/".join(p.strip("/") for p in parts if p.strip("/"))
