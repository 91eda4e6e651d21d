"""A resumable S3 upload: CreateMultipartUpload, UploadPart with a SHA-256 checksum per
part, ListParts to continue after a crash, CompleteMultipartUpload (If-None-Match when
overwriting is refused, If-Match when replacing a stale object), AbortMultipartUpload.
Small objects are one PutObject."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from sluice.sinks.base import UploadJournal
from sluice.sinks.errors import ObjectNotFound
from sluice.sinks.resumable import ResumableWriter
from sluice.sinks.s3 import requests
from sluice.sinks.s3.errors import translate_s3_error
from sluice.sinks.s3.options import S3Location
from sluice.sinks.upload_state import PartRecord, StoredPart, UploadState

T = TypeVar("T")
log = logging.getLogger("sluice.sinks")


class S3Requests:
    """The S3 calls of one sink, each translating botocore errors at the edge."""

    def __init__(self, client: Any, location: S3Location) -> None:
        self.client = client
        self.location = location

    def call(self, action: str, key: str, request: Callable[[], T]) -> T:
        try:
            return request()
        except Exception as exc:
            where = f"s3://{self.location.bucket}/{self.location.object_key(key)}"
            raise translate_s3_error(exc, action, where, self.location.bucket) from exc

    def abort(self, key: str, upload_id: str) -> None:
        try:
            self.call(
                "abort the upload of",
                key,
                lambda: self.client.abort_multipart_upload(
                    Bucket=self.location.bucket,
                    Key=self.location.object_key(key),
                    UploadId=upload_id,
                ),
            )
        except ObjectNotFound:
            return  # NoSuchUpload: already completed or aborted


class S3Upload(ResumableWriter):
    backend = "s3"

    def __init__(
        self,
        s3: S3Requests,
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
            location=f"{s3.location.uri}/{key}",
            part_size=part_size,
            overwrite=overwrite,
            journal=journal,
            concurrency=concurrency,
            replace_stale=replace_stale,
        )
        self._s3 = s3
        self._bucket = s3.location.bucket
        self._object = s3.location.object_key(key)
        #: MD5 of a single-request upload (its ETag), for stores that keep no checksums.
        self._whole_md5 = ""

    def _call(self, action: str, request: Callable[[], T]) -> T:
        return self._s3.call(action, self.key, request)

    def _start(self) -> str:
        reply = self._call(
            "start an upload of",
            lambda: self._s3.client.create_multipart_upload(
                Bucket=self._bucket, Key=self._object, ChecksumAlgorithm="SHA256"
            ),
        )
        return str(reply["UploadId"])

    def _list_stored(self, state: UploadState) -> dict[int, list[StoredPart]] | None:
        stored: dict[int, list[StoredPart]] = {}
        marker = 0
        while True:
            try:
                reply = self._call(
                    "list the parts of",
                    lambda marker=marker: self._s3.client.list_parts(  # type: ignore[misc]
                        Bucket=self._bucket,
                        Key=self._object,
                        UploadId=state.upload_id,
                        PartNumberMarker=marker,
                    ),
                )
            except ObjectNotFound:
                return None  # NoSuchUpload
            for part in reply.get("Parts", []):
                stored[int(part["PartNumber"])] = [
                    StoredPart(int(part["Size"]), str(part["ETag"]).strip('"'))
                ]
            if not reply.get("IsTruncated"):
                return stored
            marker = int(reply["NextPartNumberMarker"])

    def _send_part(self, state: UploadState, number: int, payload: bytes, sha256: bytes) -> str:
        reply = self._call(
            f"upload part {number} of",
            lambda: self._s3.client.upload_part(
                **requests.upload_part(
                    self._bucket, self._object, state.upload_id, number, payload, sha256
                )
            ),
        )
        return str(reply["ETag"]).strip('"')

    def _expected_tag(self, number: int, sha256_hex: str, md5_hex: str) -> str:
        # A part's ETag is its MD5 unless the bucket encrypts with KMS; then no match is
        # found and the part is simply sent again.
        return md5_hex

    def _complete(self, state: UploadState, sha256_hex: str, replacing: str = "") -> None:
        self._call(
            "complete the upload of",
            lambda: self._s3.client.complete_multipart_upload(
                **requests.complete(
                    self._bucket,
                    self._object,
                    state.upload_id,
                    state.parts,
                    overwrite=self.overwrite,
                    replacing=replacing,
                )
            ),
        )

    def _put_whole(self, payload: bytes, sha256_hex: str) -> None:
        self._whole_md5 = hashlib.md5(payload, usedforsecurity=False).hexdigest()
        self._call(
            "upload",
            lambda: self._s3.client.put_object(
                **requests.put_object(self._bucket, self._object, payload, overwrite=self.overwrite)
            ),
        )

    def _matches_stored_object(self, size: int, sha256_hex: str, parts: list[PartRecord]) -> bool:
        try:
            head = self._call(
                "verify",
                lambda: self._s3.client.head_object(
                    Bucket=self._bucket, Key=self._object, ChecksumMode="ENABLED"
                ),
            )
        except ObjectNotFound:
            return False
        reported = head.get("ChecksumSHA256")
        if reported is not None:
            found = str(reported).partition("-")[0]
            expected = requests.expected_checksums(parts, sha256_hex)
        else:
            # Stores that keep no checksums fall back to the ETag: the MD5 of a single
            # PUT, the MD5 of the part MD5s for a multipart upload (unless KMS-encrypted).
            found = str(head.get("ETag", "")).strip('"')
            expected = requests.expected_etags(parts, self._whole_md5)
        stored_size = int(head.get("ContentLength", -1))
        if stored_size == size and found in expected:
            return True
        log.warning(
            "%s holds %d bytes with digest %s; expected %d bytes with %s",
            self.location,
            stored_size,
            found,
            size,
            " or ".join(sorted(expected)) or "a digest never known here",
        )
        return False

    def _object_exists(self) -> bool:
        try:
            self._call(
                "look up",
                lambda: self._s3.client.head_object(Bucket=self._bucket, Key=self._object),
            )
        except ObjectNotFound:
            return False
        return True

    def _stored_version(self) -> str | None:
        try:
            head = self._call(
                "look up",
                lambda: self._s3.client.head_object(Bucket=self._bucket, Key=self._object),
            )
        except ObjectNotFound:
            return None
        return str(head["ETag"])

    def _make_stale(self, version: str) -> None:
        # S3's ETag is a digest of the bytes: no request makes it stale while keeping
        # them. A previous holder's replace completes the upload the journal named,
        # which this writer continued (overwriting its parts) and aborts, strictly.
        return

    def abort_remote(self, state: UploadState) -> None:
        if state.upload_id:
            self._s3.abort(self.key, state.upload_id)
