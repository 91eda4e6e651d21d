"""Objects in an S3 bucket under a prefix, written by resumable multipart uploads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from sluice.sinks.base import Capabilities, ObjectInfo, SinkWriter, UploadJournal, validate_key
from sluice.sinks.errors import ObjectNotFound
from sluice.sinks.profiles import S3Profile
from sluice.sinks.ranged_read import ranged_reader
from sluice.sinks.s3.options import S3Location, build_client
from sluice.sinks.s3.upload import S3Requests, S3Upload
from sluice.sinks.upload_state import UploadState

_CAPABILITIES = Capabilities(resumable=True)


class S3Sink:
    """A bucket and prefix. `client` is a botocore S3 client (see options.build_client)."""

    def __init__(self, location: S3Location, profile: S3Profile, client: Any = None) -> None:
        self._location = location
        self._profile = profile
        self._s3 = S3Requests(client if client is not None else build_client(profile), location)

    @property
    def uri(self) -> str:
        return self._location.uri

    @property
    def capabilities(self) -> Capabilities:
        return _CAPABILITIES

    def create(
        self,
        key: str,
        *,
        overwrite: bool = True,
        journal: UploadJournal | None = None,
        replace_stale: bool = False,
    ) -> SinkWriter:
        validate_key(key)
        return S3Upload(
            self._s3,
            key,
            part_size=self._profile.part_size,
            overwrite=overwrite,
            journal=journal,
            concurrency=self._profile.upload_concurrency,
            replace_stale=replace_stale,
        )

    def open(self, key: str) -> BinaryIO:
        validate_key(key)
        bucket, object_key = self._location.bucket, self._location.object_key(key)
        head = self._s3.call(
            "read", key, lambda: self._s3.client.head_object(Bucket=bucket, Key=object_key)
        )

        def fetch(offset: int, length: int) -> bytes:
            # Each range is read whole inside the translation, so a reset is retried there.
            def request() -> bytes:
                reply = self._s3.client.get_object(
                    Bucket=bucket, Key=object_key, Range=f"bytes={offset}-{offset + length - 1}"
                )
                return bytes(reply["Body"].read())

            return self._s3.call("read", key, request)

        return ranged_reader(
            int(head["ContentLength"]), fetch, name=key, version=str(head.get("ETag", ""))
        )

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        base = self._location.object_key("")
        token: str | None = None
        while True:
            arguments: dict[str, Any] = {"Bucket": self._location.bucket, "Prefix": base + prefix}
            if token:
                arguments["ContinuationToken"] = token
            reply = self._list_page(prefix, arguments)
            for item in reply.get("Contents", []):
                key = str(item["Key"])[len(base) :]
                if key and not key.endswith("/"):
                    yield ObjectInfo(key, int(item["Size"]), str(item.get("ETag", "")))
            if not reply.get("IsTruncated"):
                return
            token = reply["NextContinuationToken"]

    def _list_page(self, prefix: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return dict(
            self._s3.call("list", prefix, lambda: self._s3.client.list_objects_v2(**arguments))
        )

    def remove(self, key: str) -> None:
        validate_key(key)
        try:
            self._s3.call(
                "remove",
                key,
                lambda: self._s3.client.delete_object(
                    Bucket=self._location.bucket, Key=self._location.object_key(key)
                ),
            )
        except ObjectNotFound:
            return

    def abort_upload(self, key: str, state: str) -> None:
        upload_id = UploadState.from_json(state).upload_id
        if upload_id:
            self._s3.abort(key, upload_id)

    def abort_stray_uploads(self, prefix: str) -> int:
        """Abort every multipart upload still open under `prefix`, journalled or not: a
        process killed between starting an upload and journalling its id leaves one that
        only the store itself knows about. Returns how many were aborted."""
        base = self._location.object_key("")
        bucket = self._location.bucket
        reply = self._s3.call(
            "list the open uploads under",
            prefix,
            lambda: self._s3.client.list_multipart_uploads(Bucket=bucket, Prefix=base + prefix),
        )
        uploads = [
            (str(u["Key"])[len(base) :], str(u["UploadId"])) for u in reply.get("Uploads", [])
        ]
        for key, upload_id in uploads:
            self._s3.abort(key, upload_id)
        return len(uploads)

    # Unfinished writes are multipart uploads, invisible until completed: no temporaries.

    def temporaries(self, prefix: str = "") -> Iterator[str]:
        return iter(())

    def remove_stale_temporaries(self, prefix: str = "") -> int:
        return 0
