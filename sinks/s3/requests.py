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


def expected_checksums(parts: list[PartRecord], whole_sha256_hex: str) -> frozenset[str]:
    """The ChecksumSHA256 S3 may report for these bytes, without the "-N" part count
    (some S3-compatible servers, moto among them, leave it out): the digest itself for a
    single PutObject, else the digest of the part digests. Bytes of at most one part
    may be stored either way (a small object replaced as a one-part upload, then met by
    a writer that puts it whole), and the one part's digest is the whole one's."""
    if len(parts) > 1:
        joined = b"".join(bytes.fromhex(part.sha256) for part in _in_order(parts))
        return frozenset({b64(hashlib.sha256(joined).digest())})
    whole = bytes.fromhex(whole_sha256_hex)
    return frozenset({b64(whole), b64(hashlib.sha256(whole).digest())})


def expected_etags(parts: list[PartRecord], whole_md5_hex: str) -> frozenset[str]:
    """The ETag S3 gives these bytes unencrypted: the MD5 of a single PutObject, else the
    MD5 of the part MD5s with a "-N" suffix; at most one part, either (as above)."""
    if len(parts) > 1:
        joined = b"".join(bytes.fromhex(part.md5) for part in _in_order(parts))
        return frozenset({f"{hashlib.md5(joined, usedforsecurity=False).hexdigest()}-{len(parts)}"})
    whole_md5 = parts[0].md5 if parts else whole_md5_hex
    if not whole_md5:
        return frozenset()  # never put whole here, and no part: nothing to compare with
    one_part = hashlib.md5(bytes.fromhex(whole_md5), usedforsecurity=False).hexdigest()
    return frozenset({whole_md5, f"{one_part}-1"})


def _in_order(parts: list[PartRecord]) -> list[PartRecord]:
    return sorted(parts, key=lambda part: part.number)
