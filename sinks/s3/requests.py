"""Building S3 request parameters: checksums and conditional writes in one place."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from sluice.sinks.upload_state import PartRecord


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def conditional(overwrite: bool, replacing: str = "") -> dict[str, Any]:
    """If-None-Match: "*" makes the store itself refuse to replace an existing object;
    If-Match: an ETag, to replace only that version of it."""
    if replacing:
        return {"IfMatch": replacing}
    return {} if overwrite else {"IfNoneMatch": "*"}


def put_object(bucket: str, key: str, payload: bytes, *, overwrite: bool) -> dict[str, Any]:
    return {
        "Bucket": bucket,
        "Key": key,
        "Body": payload,
        "ChecksumSHA256": b64(hashlib.sha256(payload).digest()),
        **conditional(overwrite),
    }


def upload_part(
    bucket: str, key: str, upload_id: str, number: int, payload: bytes, sha256: bytes
) -> dict[str, Any]:
    return {
        "Bucket": bucket,
        "Key": key,
        "UploadId": upload_id,
        "PartNumber": number,
        "Body": payload,
        "ChecksumSHA256": b64(sha256),
    }


def complete(
    bucket: str,
    key: str,
    upload_id: str,
    parts: list[PartRecord],
    *,
    overwrite: bool,
    replacing: str = "",
) -> dict[str, Any]:
    return {
        "Bucket": bucket,
        "Key": key,
        "UploadId": upload_id,
        "MultipartUpload": {
            "Parts": [
                {
                    "PartNumber": part.number,
                    "ETag": f'"{part.tag}"',
                    "ChecksumSHA256": b64(bytes.fromhex(part.sha256)),
                }
                for part in sorted(parts, key=lambda p: p.number)
            ]
        },
        **conditional(overwrite, replacing),
    }


def expected_checksum(parts: list[PartRecord], whole_sha256_hex: str) -> str:
    """The ChecksumSHA256 S3 reports for an object: the digest itself for a single
    PutObject, else the digest of the part digests with a "-N" suffix."""
    if not parts:
        return b64(bytes.fromhex(whole_sha256_hex))
    joined = b"".join(bytes.fromhex(part.sha256) for part in sorted(parts, key=lambda p: p.number))
    return f"{b64(hashlib.sha256(joined).digest())}-{len(parts)}"


def expected_etag(parts: list[PartRecord], whole_md5_hex: str) -> str:
    """The ETag S3 gives an unencrypted object: its MD5 for a single PutObject, else the
    MD5 of the part MD5s with a "-N" suffix."""
    if not parts:
        return whole_md5_hex
    joined = b"".join(bytes.fromhex(part.md5) for part in sorted(parts, key=lambda p: p.number))
    return f"{hashlib.md5(joined, usedforsecurity=False).hexdigest()}-{len(parts)}"
