"""The plain data of a resumable upload: what is journalled after every part, and what
the store reports about the parts it holds."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass
class PartRecord:
    """One stored part: its number (from 1), size and digests, and the backend's tag
    (S3 ETag, Azure block id) needed to complete the upload."""

    number: int
    size: int
    sha256: str
    md5: str
    tag: str


@dataclass
class UploadState:
    """Plain data a new process needs to continue an upload; journalled after each part."""

    backend: str
    key: str
    part_size: int
    #: S3 multipart upload id; empty for Azure (blocks are staged on the blob itself).
    upload_id: str = ""
    parts: list[PartRecord] = field(default_factory=list)
    #: Set just before the completing request: if the upload is gone on resume, the
    #: object was (most likely) completed and only needs verifying.
    completing: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> UploadState:
        raw = json.loads(text)
        parts = [PartRecord(**part) for part in raw.pop("parts", [])]
        return cls(**raw, parts=parts)


@dataclass(frozen=True)
class StoredPart:
    """What the store reports about a part it holds (from ListParts / the block list)."""

    size: int
    tag: str
