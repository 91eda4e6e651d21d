"""The export manifest (format v1) as one typed model: the daemon builds it and writes it
with `to_json`; everything that reads a manifest (verify, catalog, diffs, retention,
recovery, the client) parses it with `from_json`, which turns any malformed manifest into
one ManifestError.

`to_json` writes the members in the order format v1 has always had, so equal inputs give
byte-identical manifests (and signatures over them stay checkable). Parts the daemon
records for people, not for code (the redaction policy as requested), are kept as the
JSON they are. Missing optional members read as empty, so older manifests still load.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sluice.format.json_fields import Fields, ManifestError, UnknownFormatVersion
from sluice.format.stored_objects import (
    ChunkEntry,
    DocumentEntry,
    KeyIndexEntry,
    StoredEntry,
    TombstonesEntry,
)

FORMAT_VERSION = 1
#: The version of a manifest holding sealed values (an encrypted export's watermark,
#: labels or time range bounds, committed/sealed_values.py). A Sluice that reads only
#: version 1 refuses it (FAILED_PRECONDITION, "format_version 2 is not one this Sluice
#: reads") instead of reading a sealed watermark as none and sending every row again as
#: an increment. Manifests without sealed values stay version 1, byte for byte.
SEALED_FORMAT_VERSION = 2
#: The versions this Sluice reads.
READ_FORMAT_VERSIONS = (FORMAT_VERSION, SEALED_FORMAT_VERSION)


@dataclass(frozen=True)
class Watermark:
    """The largest incremental cursor value an export sent (where the next one starts).

    An encrypted export's manifest lies in the clear beside its sealed chunks, so its
    watermark's value is `sealed` (value None): only the daemon that wrote it (holding
    its content-digest key) opens it, to continue the chain."""

    column: str
    #: JSON-safe: ISO-8601 text for dates and times, a number, or text.
    value: Any
    #: The Polars dtype it came from, e.g. "Datetime(time_unit='us', time_zone='UTC')".
    dtype: str
    #: The value sealed for the daemon (base64), or "" when `value` is in the clear.
    sealed: str = ""

    def to_json(self) -> dict[str, Any]:
        described = {"column": self.column, "value": self.value, "dtype": self.dtype}
        return described | ({"sealed": self.sealed} if self.sealed else {})

    @classmethod
    def from_json(cls, raw: Any) -> Watermark | None:
        """None for anything but an object naming a column (no watermark recorded)."""
        if not isinstance(raw, Mapping) or "column" not in raw:
            return None
        sealed = raw.get("sealed")
        return cls(
            str(raw["column"]),
            raw.get("value"),
            str(raw.get("dtype", "")),
            sealed if isinstance(sealed, str) else "",
        )


@dataclass(frozen=True)
class SourceSnapshot:
    """The database snapshot an export's rows were read in (PostgreSQL sources)."""

    #: pg_current_snapshot() of the reading transaction: "xmin:xmax:xip,...".
    snapshot: str
    #: The database's clock when that transaction started (now()).
    database_time: datetime

    def to_json(self) -> dict[str, Any]:
        return {"snapshot": self.snapshot, "database_time": self.database_time.isoformat()}

    @classmethod
    def parse(cls, raw: Fields) -> SourceSnapshot:
        raw.required_text("database_time")
        at = raw.time("database_time")
        assert at is not None
        return cls(raw.required_text("snapshot"), at)


@dataclass(frozen=True)
class SourceInfo:
    """What the manifest records about the source; never credentials."""

    uri: str = ""
    format: str = ""
    files: int = 0
    on_bad_rows: str = "fail"
    #: Source rows left out under on_bad_rows "skip" (a file's unparseable rows, a
    #: database's rows holding a value the export cannot hold).
    skipped_rows: int = 0
    #: CSV column types the request gave, (column, type name); empty when none were.
    schema: tuple[tuple[str, str], ...] = ()
    #: Database sources: the table read ("NAME" or "SCHEMA.NAME"), or the query.
    table: str = ""
    query: str = ""
    #: Database sources: the columns rows were read in the order of (resume position).
    order_by: tuple[str, ...] = ()
    #: PostgreSQL sources: the snapshot of the run that read the last rows (a resumed
    #: export read the rows after its last journalled chunk in a new snapshot).
    snapshot: SourceSnapshot | None = None
    #: The named source of the server config the export read (`[sources.NAME]`), or "".
    name: str = ""
    #: The template the request named (backup, analysis, a configured one), or "".
    template: str = ""

    def to_json(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            key: value for key, value in (("name", self.name), ("template", self.template)) if value
        }
        described |= {
            "uri": self.uri,
            "format": self.format,
            "files": self.files,
            "on_bad_rows": self.on_bad_rows,
            "skipped_rows": self.skipped_rows,
        }
        if self.schema:
            described["schema"] = dict(self.schema)
        for name in ("table", "query"):
            if getattr(self, name):
                described[name] = getattr(self, name)
        if self.order_by:
            described["order_by"] = list(self.order_by)
        if self.snapshot is not None:
            described["snapshot"] = self.snapshot.to_json()
        return described

    @classmethod
    def parse(cls, raw: Fields) -> SourceInfo:
        snapshot = raw.object("snapshot")
        return cls(
            uri=raw.text("uri"),
            format=raw.text("format"),
            files=raw.integer("files"),
            on_bad_rows=raw.text("on_bad_rows", "fail"),
            skipped_rows=raw.integer("skipped_rows"),
            schema=raw.text_map("schema"),
            table=raw.text("table"),
            query=raw.text("query"),
            order_by=raw.texts("order_by"),
            snapshot=None if snapshot is None else SourceSnapshot.parse(snapshot),
            name=raw.text("name"),
            template=raw.text("template"),
        )


@dataclass(frozen=True)
class TimeRangeInfo:
    column: str
    since: datetime | None = None
    until: datetime | None = None
    #: An encrypted export's bounds, sealed for the daemon (base64; since and until
    #: None), or "" when they are in the clear.
    sealed: str = ""

    def to_json(self) -> dict[str, Any]:
        described = {"column": self.column, "since": _iso(self.since), "until": _iso(self.until)}
        return described | ({"sealed": self.sealed} if self.sealed else {})


@dataclass(frozen=True)
class IdsInfo:
    """An id filter: its column and how many ids (the ids themselves are not recorded)."""

    column: str
    count: int


@dataclass(frozen=True)
class QueryInfo:
    columns: tuple[str, ...] = ()
    where: str = ""
    time_range: TimeRangeInfo | None = None
    ids: IdsInfo | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": list(self.columns),
            "where": self.where or None,
            "time_range": None if self.time_range is None else self.time_range.to_json(),
            "ids": None
            if self.ids is None
            else {"column": self.ids.column, "count": self.ids.count},
        }

    @classmethod
    def parse(cls, raw: Fields) -> QueryInfo:
        time_range = raw.object("time_range")
        ids = raw.object("ids")
        return cls(
            columns=raw.texts("columns"),
            where=raw.text("where"),
            time_range=None
            if time_range is None
            else TimeRangeInfo(
                time_range.required_text("column"),
                time_range.time("since"),
                time_range.time("until"),
                time_range.text("sealed"),
            ),
            ids=None if ids is None else IdsInfo(ids.text("column"), ids.integer("count")),
        )


@dataclass(frozen=True)
class EncryptionInfo:
    """The scheme and recipient fingerprints, never keys."""

    scheme: str = "none"
    recipients: tuple[str, ...] = ()
    #: Whether a passphrase (age scrypt, zip password) opens the chunks; None: not said.
    passphrase: bool | None = None

    def to_json(self) -> dict[str, Any]:
        described: dict[str, Any] = {"scheme": self.scheme, "recipients": list(self.recipients)}
        if self.passphrase is not None:
            described["passphrase"] = self.passphrase
        return described

    @classmethod
    def parse(cls, raw: Fields | None) -> EncryptionInfo:
        if raw is None:
            return cls()
        return cls(raw.text("scheme", "none"), raw.texts("recipients"), raw.flag("passphrase"))


@dataclass(frozen=True)
class OutputInfo:
    format: str = "jsonl"
    compression: str = "zstd"
    level: int | None = None
    #: "internal" (the format compresses itself, e.g. Parquet) or "stream" (the bytes).
    compression_applied: str = "stream"
    encryption: EncryptionInfo = field(default_factory=EncryptionInfo)

    @property
    def internal_compression(self) -> bool:
        return self.compression_applied == "internal"

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "compression": self.compression,
            "level": self.level,
            "compression_applied": self.compression_applied,
            "encryption": self.encryption.to_json(),
        }

    @classmethod
    def parse(cls, raw: Fields) -> OutputInfo:
        return cls(
            format=raw.text("format", "jsonl"),
            compression=raw.text("compression", "zstd"),
            level=raw.optional_integer("level"),
            compression_applied=raw.text("compression_applied", "stream"),
            encryption=EncryptionInfo.parse(raw.object("encryption")),
        )


@dataclass(frozen=True)
class SchemaField:
    name: str
    #: The Arrow type as text, e.g. "timestamp[us, tz=UTC]".
    type: str
    nullable: bool = True


def _schema_json(schema: Sequence[SchemaField]) -> list[dict[str, Any]]:
    return [{"name": f.name, "type": f.type, "nullable": f.nullable} for f in schema]


def _parse_schema(raw: Fields) -> tuple[SchemaField, ...]:
    return tuple(
        SchemaField(f.required_text("name"), f.text("type"), f.flag("nullable") is not False)
        for f in raw.objects("schema")
    )


@dataclass(frozen=True)
class PackagePart:
    """One file set of a GDPR subject package: one source's rows of the subject in one
    format, in the chunks numbered `chunks`."""

    source: str
    format: str
    subject_column: str
    description: str = ""
    records: int = 0
    chunks: tuple[int, ...] = ()
    schema: tuple[SchemaField, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "description": self.description,
            "format": self.format,
            "subject_column": self.subject_column,
            "records": self.records,
            "chunks": list(self.chunks),
            "schema": _schema_json(self.schema),
        }

    @classmethod
    def parse(cls, raw: Fields) -> PackagePart:
        chunks = raw.raw("chunks") or []
        if not isinstance(chunks, list) or not all(
            isinstance(c, int) and not isinstance(c, bool) for c in chunks
        ):
            raise ManifestError(f"{raw.place('chunks')} must be a list of chunk numbers")
        return cls(
            source=raw.required_text("source"),
            format=raw.required_text("format"),
            subject_column=raw.text("subject_column"),
            description=raw.text("description"),
            records=raw.integer("records"),
            chunks=tuple(chunks),
            schema=_parse_schema(raw),
        )


@dataclass(frozen=True)
class SubjectPackageInfo:
    """A GDPR subject package: whose rows it holds and which chunks hold which source.

    An encrypted package's manifest (stored in the clear beside sealed files) never names
    the subject: it holds `subject_digest`, a keyed HMAC of the id under the server's
    content-digest key (`content_digest.key_id`), instead of `subject_id`."""

    subject_id: str = ""
    parts: tuple[PackagePart, ...] = ()
    subject_digest: str = ""

    def to_json(self) -> dict[str, Any]:
        described: dict[str, Any] = {}
        if self.subject_id:
            described["subject_id"] = self.subject_id
        if self.subject_digest:
            described["subject_digest"] = self.subject_digest
        described["parts"] = [p.to_json() for p in self.parts]
        return described

    @classmethod
    def parse(cls, raw: Fields) -> SubjectPackageInfo:
        found = cls(
            subject_id=raw.text("subject_id"),
            parts=tuple(PackagePart.parse(p) for p in raw.objects("parts")),
            subject_digest=raw.text("subject_digest"),
        )
        if not (found.subject_id or found.subject_digest):
            raise ManifestError(
                f"{raw.place('subject_id')} or subject_digest is required in subject_package"
            )
        return found


@dataclass(frozen=True)
class Totals:
    records: int = 0
    chunks: int = 0
    stored_bytes: int = 0


@dataclass(frozen=True)
class ChangeCounts:
    """Rows a keyed export found inserted, updated, deleted and unchanged."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
        }


@dataclass(frozen=True)
class IncrementalInfo:
    mode: str = "full"
    cursor: str = ""
    #: The parent's watermark this export continued from.
    since: Watermark | None = None
    lookback_seconds: int = 0
    key: tuple[str, ...] = ()
    changes: ChangeCounts | None = None
    #: Source rows the query selected that this increment could not send, their cursor
    #: being null (or a float NaN or infinity): no increment ever sends them, only a
    #: full export does. Written when not 0.
    rows_without_cursor: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "cursor": self.cursor or None,
            "since": None if self.since is None else self.since.to_json(),
            "lookback_seconds": self.lookback_seconds,
            "key": list(self.key) or None,
            "changes": None if self.changes is None else self.changes.to_json(),
        } | ({"rows_without_cursor": self.rows_without_cursor} if self.rows_without_cursor else {})

    @classmethod
    def parse(cls, raw: Fields) -> IncrementalInfo:
        changes = raw.object("changes")
        return cls(
            mode=raw.text("mode") or "full",
            cursor=raw.text("cursor"),
            since=Watermark.from_json(raw.raw("since")),
            lookback_seconds=raw.integer("lookback_seconds"),
            key=raw.texts("key"),
            rows_without_cursor=raw.integer("rows_without_cursor"),
            changes=None
            if changes is None
            else ChangeCounts(
                *(changes.integer(n) for n in ("inserted", "updated", "deleted", "unchanged"))
            ),
        )


@dataclass(frozen=True)
class RedactionInfo:
    #: The policy as requested and resolved (level, rules, patterns, key names...), kept
    #: as the JSON it is: it is read by people and compared whole, not read by code.
    policy: Mapping[str, Any] = field(default_factory=dict)
    #: Records in which each rule changed each column: {rule: {column: count}}.
    counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    @property
    def level(self) -> str:
        level = self.policy.get("level")
        return level if isinstance(level, str) else ""

    def to_json(self) -> dict[str, Any]:
        return {**self.policy, "counts": {r: dict(c) for r, c in self.counts.items()}}

    @classmethod
    def parse(cls, raw: Fields) -> RedactionInfo:
        policy = {k: v for k, v in raw.raw_members() if k != "counts"}
        counts = raw.object("counts")
        parsed: dict[str, dict[str, int]] = {}
        if counts is not None:
            for rule, _ in counts.raw_members():
                per_rule = counts.object(rule)
                if per_rule is not None:
                    parsed[rule] = {c: per_rule.integer(c) for c, _ in per_rule.raw_members()}
        return cls(policy, parsed)


@dataclass(frozen=True)
class ContentDigest:
    """How chunk contents were digested: the algorithm and which key (by id)."""

    #: The algorithm of every chunk's `content_digest` ("blake3", "hmac-sha256"), or
    #: "mixed" when they differ; each digest's prefix is authoritative
    #: (sluice.format.content_digests).
    algorithm: str
    key_id: str


@dataclass(frozen=True)
class Manifest:
    export_id: str = ""
    dataset: str = ""
    parent_export_id: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    source: SourceInfo = field(default_factory=SourceInfo)
    query: QueryInfo = field(default_factory=QueryInfo)
    output: OutputInfo = field(default_factory=OutputInfo)
    schema: tuple[SchemaField, ...] = ()
    #: Sums over the chunks (computed from them when a manifest lacks the member).
    totals: Totals = field(default_factory=Totals)
    watermark: Watermark | None = None
    incremental: IncrementalInfo = field(default_factory=IncrementalInfo)
    redaction: RedactionInfo = field(default_factory=RedactionInfo)
    content_digest: ContentDigest | None = None
    labels: tuple[tuple[str, str], ...] = ()
    #: An encrypted export's labels, sealed for the daemon (base64; `labels` empty):
    #: written only when there are some, so other manifests keep their bytes.
    sealed_labels: str = ""
    key_index: KeyIndexEntry | None = None
    tombstones: TombstonesEntry | None = None
    chunks: tuple[ChunkEntry, ...] = ()
    #: Files beside the chunks that hold no records (an XML export's XSD); the member is
    #: written only when there are some, so manifests without any keep their bytes.
    documents: tuple[DocumentEntry, ...] = ()
    format_version: int = FORMAT_VERSION
    #: Name of the principal that created the export ("": no principals; then the
    #: member is left out, so manifests of daemons without principals are unchanged).
    created_by: str = ""
    #: GDPR subject packages: the subject and the parts (the member is written only for
    #: packages, so other manifests keep their bytes).
    subject_package: SubjectPackageInfo | None = None

    def stored_entries(self) -> Iterator[StoredEntry]:
        """Every object listed with its size and sha256: the chunks, then a keyed
        export's key index and tombstone file, then the documents."""
        yield from self.chunks
        if self.key_index is not None:
            yield self.key_index
        if self.tombstones is not None:
            yield self.tombstones
        yield from self.documents

    @property
    def holds_sealed_values(self) -> bool:
        """Whether a value of it is sealed (then it is written as SEALED_FORMAT_VERSION)."""
        since = self.incremental.since
        time_range = self.query.time_range
        return bool(
            (self.watermark is not None and self.watermark.sealed)
            or (since is not None and since.sealed)
            or (time_range is not None and time_range.sealed)
            or self.sealed_labels
        )

    @property
    def written_format_version(self) -> int:
        """The format_version it is written with: readers of version 1 only must refuse
        sealed values (they would read a sealed watermark as none)."""
        if self.holds_sealed_values:
            return max(self.format_version, SEALED_FORMAT_VERSION)
        return self.format_version

    def to_dict(self) -> dict[str, Any]:
        described = self._members()
        if self.documents:
            described["documents"] = [d.to_json() for d in self.documents]
        if self.subject_package is not None:
            described["subject_package"] = self.subject_package.to_json()
        if self.sealed_labels:
            described["sealed_labels"] = self.sealed_labels
        return described

    def _members(self) -> dict[str, Any]:
        return {
            "format_version": self.written_format_version,
            "export_id": self.export_id,
            "dataset": self.dataset,
            "parent_export_id": self.parent_export_id,
            "created_at": _iso(self.created_at),
            "finished_at": _iso(self.finished_at),
            "source": self.source.to_json(),
            "query": self.query.to_json(),
            "output": self.output.to_json(),
            "schema": _schema_json(self.schema),
            "totals": {
                "records": self.totals.records,
                "chunks": self.totals.chunks,
                "stored_bytes": self.totals.stored_bytes,
            },
            "watermark": None if self.watermark is None else self.watermark.to_json(),
            "incremental": self.incremental.to_json(),
            "redaction": self.redaction.to_json(),
            "content_digest": None
            if self.content_digest is None
            else {"algorithm": self.content_digest.algorithm, "key_id": self.content_digest.key_id},
            "labels": dict(self.labels),
            "key_index": None if self.key_index is None else self.key_index.to_json(),
            "tombstones": None if self.tombstones is None else self.tombstones.to_json(),
            "chunks": [c.to_json() for c in self.chunks],
        } | ({"created_by": self.created_by} if self.created_by else {})

    def to_json(self) -> bytes:
        """The exact bytes stored as manifest.json (and covered by manifest.json.sig)."""
        return (
            json.dumps(self.to_dict(), indent=2, sort_keys=False, allow_nan=False).encode() + b"\n"
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> Manifest:
        """Parse a stored manifest; ManifestError says what is wrong with a bad one."""
        try:
            raw = json.loads(data)
        except ValueError as exc:
            raise ManifestError(f"not valid JSON ({exc})") from None
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: Any) -> Manifest:
        if not isinstance(raw, Mapping):
            raise ManifestError("not a Sluice manifest (expected a JSON object)")
        if not isinstance(raw.get("chunks"), list):
            raise ManifestError("not a Sluice manifest (no list of chunks)")
        fields = Fields(raw)
        version = fields.integer("format_version", FORMAT_VERSION)
        if version not in READ_FORMAT_VERSIONS:
            readable = " or ".join(str(v) for v in READ_FORMAT_VERSIONS)
            raise UnknownFormatVersion(
                f"format_version {version} is not one this Sluice reads ({readable}): "
                "written by another Sluice version?"
            )
        chunks = tuple(ChunkEntry.parse(c) for c in fields.objects("chunks"))
        totals = fields.object("totals")
        digest = fields.object("content_digest")
        key_index = fields.object("key_index")
        tombstones = fields.object("tombstones")
        package = fields.object("subject_package")
        return cls(
            format_version=version,
            export_id=fields.text("export_id"),
            dataset=fields.text("dataset"),
            parent_export_id=fields.optional_text("parent_export_id"),
            created_at=fields.time("created_at"),
            finished_at=fields.time("finished_at"),
            source=SourceInfo.parse(fields.object("source") or Fields({}, "source")),
            query=QueryInfo.parse(fields.object("query") or Fields({}, "query")),
            output=OutputInfo.parse(fields.object("output") or Fields({}, "output")),
            schema=_parse_schema(fields),
            totals=_totals(totals, chunks),
            watermark=Watermark.from_json(fields.raw("watermark")),
            incremental=IncrementalInfo.parse(
                fields.object("incremental") or Fields({}, "incremental")
            ),
            redaction=RedactionInfo.parse(fields.object("redaction") or Fields({}, "redaction")),
            content_digest=None
            if digest is None
            else ContentDigest(digest.text("algorithm"), digest.text("key_id")),
            labels=fields.text_map("labels"),
            sealed_labels=fields.text("sealed_labels"),
            key_index=None if key_index is None else KeyIndexEntry.parse(key_index),
            tombstones=None if tombstones is None else TombstonesEntry.parse(tombstones),
            chunks=chunks,
            created_by=fields.text("created_by"),
            documents=tuple(DocumentEntry.parse(d) for d in fields.objects("documents")),
            subject_package=None if package is None else SubjectPackageInfo.parse(package),
        )


def totals_of(chunks: Sequence[ChunkEntry]) -> Totals:
    return Totals(
        records=sum(c.records for c in chunks),
        chunks=len(chunks),
        stored_bytes=sum(c.stored_bytes for c in chunks),
    )


def _totals(raw: Fields | None, chunks: Sequence[ChunkEntry]) -> Totals:
    summed = totals_of(chunks)
    if raw is None:
        return summed
    return Totals(
        records=raw.integer("records", summed.records),
        chunks=raw.integer("chunks", summed.chunks),
        stored_bytes=raw.integer("stored_bytes", summed.stored_bytes),
    )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
