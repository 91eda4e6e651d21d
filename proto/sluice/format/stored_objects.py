"""The objects a manifest lists with their size and sha256, which verify checks and the
client reads: the chunks, a keyed export's key index, its tombstone file, and documents
(an XML export's XSD)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sluice.format.json_fields import Fields

#: The keyed digests of a key index's rows (server/keyindex/digests.py). Fixed, apart from
#: the chunks' content digests (sluice.format.content_digests): a chain of keyed exports
#: compares each index with the one before it.
KEY_INDEX_DIGEST_ALGORITHM = "hmac-sha256"


@dataclass(frozen=True)
class KeyIndexEntry:
    """A keyed export's key index: one sorted file of key and row digests, no values."""

    path: str
    format: str = ""
    sorted_by: str = ""
    rows: int = 0
    stored_bytes: int = 0
    sha256: str = ""
    key: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    algorithm: str = KEY_INDEX_DIGEST_ALGORITHM
    key_id: str = ""
    #: The key columns' source types, (column, type as key_type_text gives it): an
    #: increment compares by key only under the same types (1 and 1.0 digest apart).
    #: Empty in manifests written before types were recorded (the member is then left
    #: out, so their bytes stay as they were).
    key_types: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        described = {
            "path": self.path,
            "format": self.format,
            "sorted_by": self.sorted_by,
            "rows": self.rows,
            "stored_bytes": self.stored_bytes,
            "sha256": self.sha256,
            "key": list(self.key),
            "columns": list(self.columns),
            "algorithm": self.algorithm,
            "key_id": self.key_id,
        }
        if self.key_types:
            described["key_types"] = dict(self.key_types)
        return described

    @classmethod
    def parse(cls, raw: Fields) -> KeyIndexEntry:
        return cls(
            path=raw.required_text("path"),
            format=raw.text("format"),
            sorted_by=raw.text("sorted_by"),
            rows=raw.integer("rows"),
            stored_bytes=raw.integer("stored_bytes"),
            sha256=raw.text("sha256"),
            key=raw.texts("key"),
            columns=raw.texts("columns"),
            algorithm=raw.text("algorithm", KEY_INDEX_DIGEST_ALGORITHM),
            key_id=raw.text("key_id"),
            key_types=raw.text_map("key_types"),
        )


@dataclass(frozen=True)
class TombstonesEntry:
    """The deletions of a key-only increment: one file in the chunks' format."""

    path: str
    records: int = 0
    stored_bytes: int = 0
    sha256: str = ""
    #: Keyed digest of the plaintext, "<algorithm>:<hex>", like a chunk's.
    content_digest: str = ""
    key: tuple[str, ...] = ()
    #: The column saying what happened to the row, and its value for a deletion.
    op_column: str = ""
    op: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "records": self.records,
            "stored_bytes": self.stored_bytes,
            "sha256": self.sha256,
            "content_digest": self.content_digest,
            "key": list(self.key),
            "op_column": self.op_column,
            "op": self.op,
        }

    @classmethod
    def parse(cls, raw: Fields) -> TombstonesEntry:
        return cls(
            path=raw.required_text("path"),
            records=raw.integer("records"),
            stored_bytes=raw.integer("stored_bytes"),
            sha256=raw.text("sha256"),
            content_digest=raw.text("content_digest"),
            key=raw.texts("key"),
            op_column=raw.text("op_column"),
            op=raw.text("op"),
        )


@dataclass(frozen=True)
class ChunkEntry:
    index: int
    #: Relative to the export folder (where manifest.json is).
    path: str
    records: int
    stored_bytes: int
    #: Hex sha256 of the stored bytes.
    sha256: str
    #: Keyed digest of the plaintext, "<algorithm>:<hex>" ("" when not recorded); the prefix
    #: names its algorithm (sluice.format.content_digests).
    content_digest: str = ""
    #: Source row positions [start_row, end_row) the chunk covers.
    start_row: int = 0
    end_row: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "path": self.path,
            "records": self.records,
            "stored_bytes": self.stored_bytes,
            "sha256": self.sha256,
            "content_digest": self.content_digest,
            "source_range": {"start_row": self.start_row, "end_row": self.end_row},
        }

    @classmethod
    def parse(cls, raw: Fields) -> ChunkEntry:
        source_range = raw.object("source_range")
        return cls(
            index=raw.required_integer("index"),
            path=raw.required_text("path"),
            records=raw.required_integer("records"),
            stored_bytes=raw.required_integer("stored_bytes"),
            sha256=raw.required_text("sha256"),
            content_digest=raw.text("content_digest"),
            start_row=0 if source_range is None else source_range.integer("start_row"),
            end_row=0 if source_range is None else source_range.integer("end_row"),
        )


@dataclass(frozen=True)
class DocumentEntry:
    """A file stored beside the chunks for people or tools, in the clear (it holds no
    records): the XML Schema of an XML export, a report; a subject package's README, which
    names the person, is sealed like the package's files (README.html.zip, .age). Listed,
    sized and digested (as stored) like the chunks, so verify checks it."""

    path: str
    #: What it is, as a media type: "application/xml" (an XSD), "text/html", ...
    media_type: str
    stored_bytes: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "media_type": self.media_type,
            "stored_bytes": self.stored_bytes,
            "sha256": self.sha256,
        }

    @classmethod
    def parse(cls, raw: Fields) -> DocumentEntry:
        return cls(
            path=raw.required_text("path"),
            media_type=raw.text("media_type"),
            stored_bytes=raw.required_integer("stored_bytes"),
            sha256=raw.required_text("sha256"),
        )


#: What verify checks of every stored object a manifest lists.
StoredEntry = ChunkEntry | KeyIndexEntry | TombstonesEntry | DocumentEntry
