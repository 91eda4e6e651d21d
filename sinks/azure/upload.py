"""A resumable Azure block blob upload: stage_block with deterministic block ids and a
per-block MD5, get_block_list("uncommitted") to continue after a crash, and
commit_block_list (If-None-Match when overwriting is refused, If-Match when replacing a
stale blob). Small blobs are one Put Blob.

A block id is derived from the block's number and SHA-256, so a staged block whose id is
in the uncommitted list is known to hold exactly the bytes being re-produced.

Aborting an upload never committed makes no request: Azure has no call that drops staged
blocks but a commit, and committing an empty list (then deleting it) creates a blob, which
a container under an immutability policy or legal hold then refuses to delete, leaving a
zero-byte blob the export's next attempt may not replace. Blocks never committed are not
part of any blob: the next Put Block List or Put Blob on the blob discards every one it
does not name, and Azure discards them by itself a week after the blob's last Put Block.
(Put Block List, Put Block: "uncommitted blocks ... garbage collected".)"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.storage.blob import BlobBlock, ContainerClient, ContentSettings

from sluice.sinks.azure.errors import translate_azure_error
from sluice.sinks.azure.options import AzureLocation
from sluice.sinks.base import UploadJournal
from sluice.sinks.errors import ObjectExists, ObjectImmutable, ObjectNotFound
from sluice.sinks.resumable import ResumableWriter
from sluice.sinks.upload_state import PartRecord, StoredPart, UploadState

T = TypeVar("T")
log = logging.getLogger("sluice.sinks")
#: Metadata key holding the whole blob's SHA-256, checked after every commit.
SHA256_METADATA = "sluice_sha256"


def block_id(number: int, sha256_hex: str) -> str:
    # Every id of a blob must have the same length: fixed-width number, fixed digest prefix.
    # Never change it: blocks an abort left stay staged up to a week (see the module), and
    # Azure refuses a block whose id length differs from theirs.
    return base64.b64encode(f"{number:06d}-{sha256_hex[:40]}".encode()).decode()


class AzureRequests:
    """The Azure calls of one sink, each translating azure-core errors at the edge."""

    def __init__(self, container: ContainerClient, location: AzureLocation) -> None:
        self.container = container
        self.location = location

    def call(self, action: str, key: str, request: Callable[[], T]) -> T:
        try:
            return request()
        except Exception as exc:
            where = f"{self.location.uri}/{key}"
            raise translate_azure_error(exc, action, where, self.location.container) from exc

    def blob(self, key: str) -> Any:
        return self.container.get_blob_client(self.location.blob_name(key))


class AzureUpload(ResumableWriter):
    backend = "azure"

    def __init__(
        self,
        azure: AzureRequests,
        key: str,
        *,
        part_size: int,
        overwrite: bool,
        journal: UploadJournal | None,
        concurrency: int = 1,
        replace_stale: bool = False,
    ) -> None:
        super().__init__(
            key,
            location=f"{azure.location.uri}/{key}",
            part_size=part_size,
            overwrite=overwrite,
            journal=journal,
            concurrency=concurrency,
            replace_stale=replace_stale,
        )
        self._azure = azure
        self._blob = azure.blob(key)

    def _call(self, action: str, request: Callable[[], T]) -> T:
        return self._azure.call(action, self.key, request)

    def _call_creating(self, action: str, request: Callable[[], T]) -> T:
        """A write that publishes the blob unless one is there (or overwrites it): refused
        because the blob there is immutable, it finds one there, like any refused
        overwrite (ObjectExists), and the bytes stored decide (ResumableWriter)."""
        try:
            return self._call(action, request)
        except ObjectImmutable as exc:
            raise ObjectExists(str(exc), location=exc.location) from exc.__cause__

    def _start(self) -> str:
        return ""  # blocks are staged on the blob itself

    def _list_stored(self, state: UploadState) -> dict[int, list[StoredPart]] | None:
        try:
            _committed, uncommitted = self._call(
                "list the blocks of", lambda: self._blob.get_block_list("uncommitted")
            )
        except ObjectNotFound:
            return None
        if state.completing and not uncommitted:
            return None  # committed just before the crash: only verify
        # Every block of a number: an aborted upload of other bytes (aborting sends
        # nothing) may have left one beside this upload's, journalled or not.
        stored: dict[int, list[StoredPart]] = {}
        for block in uncommitted:
            try:
                number = int(base64.b64decode(block.id).decode().split("-", 1)[0])
            except ValueError:
                continue  # not one of ours
            stored.setdefault(number, []).append(StoredPart(int(block.size), str(block.id)))
        return stored

    def _send_part(self, state: UploadState, number: int, payload: bytes, sha256: bytes) -> str:
        identifier = block_id(number, sha256.hex())
        if not payload:
            # An empty object's only part (replacing a stale blob): Azure refuses an empty
            # Put Block, and none is needed, since _complete commits no block for it.
            return identifier
        # Staged on an immutable blob that is there: unless replacing a stale one, that
        # is a blob found there (ObjectExists, as the commit's contract says), which the
        # manifest writer and the chunk's verify then examine.
        call = self._call if self.replace_stale else self._call_creating
        call(
            f"stage block {number} of",
            lambda: self._blob.stage_block(identifier, payload, validate_content=True),
        )
        return identifier

    def _expected_tag(self, number: int, sha256_hex: str, md5_hex: str) -> str:
        return block_id(number, sha256_hex)

    def _complete(self, state: UploadState, sha256_hex: str, replacing: str = "") -> None:
        # An empty part is no block (see _send_part): an empty object is an empty list.
        ordered = sorted(state.parts, key=lambda p: p.number)
        blocks = [BlobBlock(part.tag) for part in ordered if part.size]

        def commit() -> None:
            self._blob.commit_block_list(
                blocks, metadata={SHA256_METADATA: sha256_hex}, **self._condition(replacing)
            )

        if not replacing:
            self._call_creating("commit", commit)
            return
        try:
            self._call("commit", commit)
        except ObjectImmutable as exc:
            # Unlike a changed version (ObjectExists), which the replace examines again,
            # no attempt ever overcomes it: said once, naming what to do.
            raise ObjectImmutable(
                f"cannot replace {self.location}: container "
                f"{self._azure.location.container!r} has an immutability policy or a "
                "legal hold that refuses replacing the stale blob stored there (other "
                "bytes, from an earlier run that never recorded it); remove the blob "
                "once the policy allows it, or export to another container or prefix",
                location=self.location,
            ) from exc.__cause__

    def _put_whole(self, payload: bytes, sha256_hex: str) -> None:
        md5 = hashlib.md5(payload, usedforsecurity=False).digest()
        settings = ContentSettings(content_md5=bytearray(md5))
        try:
            self._call_creating(
                "upload",
                lambda: self._blob.upload_blob(
                    payload,
                    overwrite=self.overwrite,
                    metadata={SHA256_METADATA: sha256_hex},
                    content_settings=settings,
                    validate_content=True,
                ),
            )
            return
        except ObjectExists:
            if self.overwrite or self._object_exists():
                raise
        # Refused though no blob is there: blocks an aborted upload left staged count as a
        # blob for a Put Blob that must not overwrite, on some stores (Azurite does), not
        # for a Put Block List. The same blob then, as one block committed if missing,
        # which discards the blocks left (an empty blob: an empty list, no empty block).
        identifier = block_id(1, sha256_hex)
        blocks = [BlobBlock(identifier)] if payload else []
        if payload:
            self._call_creating(
                "upload",
                lambda: self._blob.stage_block(identifier, payload, validate_content=True),
            )
        self._call_creating(
            "upload",
            lambda: self._blob.commit_block_list(
                blocks,
                content_settings=settings,
                metadata={SHA256_METADATA: sha256_hex},
                match_condition=MatchConditions.IfMissing,
            ),
        )

    def _condition(self, replacing: str = "") -> dict[str, Any]:
        if replacing:
            return {"etag": replacing, "match_condition": MatchConditions.IfNotModified}
        return {} if self.overwrite else {"match_condition": MatchConditions.IfMissing}

    def _matches_stored_object(self, size: int, sha256_hex: str, parts: list[PartRecord]) -> bool:
        try:
            properties = self._call("verify", self._blob.get_blob_properties)
        except ObjectNotFound:
            return False
        return bool(
            properties.size == size
            and (properties.metadata or {}).get(SHA256_METADATA) == sha256_hex
        )

    def _object_exists(self) -> bool:
        return bool(self._call("look up", self._blob.exists))

    def _stored_version(self) -> str | None:
        try:
            properties = self._call("look up", self._blob.get_blob_properties)
        except ObjectNotFound:
            return None
        return str(properties.etag)

    def _make_stale(self, version: str) -> None:
        # Writing the metadata it holds changes the ETag, not the bytes. Blocks another
        # writer staged for a replace stay uncommitted: never part of the blob, they
        # expire with Azure's garbage collection (7 days).
        sha256_hex = self._whole_sha256.hexdigest()
        try:
            self._call(
                "keep",
                lambda: self._blob.set_blob_metadata(
                    {SHA256_METADATA: sha256_hex},
                    etag=version,
                    match_condition=MatchConditions.IfNotModified,
                ),
            )
            return
        except ObjectImmutable:
            # An immutable blob (retention policy, legal hold) needs no stale version: no
            # one can replace it, a stale replica's conditional replace included. Kept as
            # it is, once it is known to be still the version whose bytes were compared.
            pass
        if self._stored_version() != version:
            raise ObjectExists(
                f"cannot keep {self.location}: it changed since it was examined",
                location=self.location,
            )
        log.info("kept immutable %s without rewriting its metadata", self.location)

    def abort_remote(self, state: UploadState) -> None:
        # Nothing to send (see the module): the blocks staged stay uncommitted, never part
        # of a blob, until the key's next commit discards them or Azure expires them.
        return
