"""Extension points of the pipeline: the redaction stage (on the lazy frame) and the
cipher stage (on stored bytes, after compression). The defaults change nothing."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl

from sluice.format.manifest import EncryptionInfo


class Redactor(Protocol):
    """Decides what leaves. Pure LazyFrame -> LazyFrame, so Polars runs it vectorised."""

    @property
    def counters(self) -> Mapping[str, str]:
        """Columns apply() adds that flag changed values per row (Boolean or integer),
        mapped to the counter key they feed ("rule/column"). The pipeline sums them per
        chunk, journals the sums with the chunk, and drops the columns before encoding."""
        ...

    def apply(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """Redact `frame`, keeping its row-index column first and adding `counters`.
        Safe to call for several batches at once, on several threads, with the same
        result as one at a time in any order."""
        ...

    @property
    def rewrites(self) -> bool:
        """False when apply() returns its frame as it is (no rule): the pipeline then
        does not spread batches over workers for it."""
        ...

    @property
    def requested(self) -> bool:
        """Whether the request asked for redaction (a level above none, or a rule other
        than keep), whichever exported columns it falls on: recorded SQL is then masked."""
        ...

    def output_schema(self, schema: pl.Schema) -> pl.Schema:
        """The exported schema after redaction (dropped columns gone, types changed)."""
        ...

    def describe(self) -> dict[str, Any]:
        """The policy as the manifest records it: level and rules, never key material."""
        ...

    def content_checks(self, column: str) -> str:
        """Which content rules read the values of top-level `column` that no column rule
        claimed: "text" (patterns, JSON keys, in text), an entity found in integers
        ("CARD"), or "" (none: its values leave as they are, or as its column rule says)."""
        ...


class NoRedaction:
    @property
    def counters(self) -> Mapping[str, str]:
        return {}

    def apply(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame

    @property
    def rewrites(self) -> bool:
        return False

    @property
    def requested(self) -> bool:
        return False

    def output_schema(self, schema: pl.Schema) -> pl.Schema:
        return schema

    def describe(self) -> dict[str, Any]:
        return {"level": "none", "rules": []}

    def content_checks(self, column: str) -> str:
        return ""


class Cipher(Protocol):
    """Encrypts one chunk's stored bytes as a stream; one instance per chunk."""

    def encrypt(self, data: bytes | memoryview) -> bytes | memoryview: ...

    def encrypt_pieces(self, data: bytes | memoryview) -> Sequence[bytes | memoryview]:
        """`encrypt`'s output in pieces, whose join it is, so that a stream writes them
        on without joining them."""
        ...

    def finish(self) -> bytes:
        """Authenticate and close the stream; return its final bytes."""
        ...


class _Plain:
    def encrypt(self, data: bytes | memoryview) -> bytes | memoryview:
        return data

    def encrypt_pieces(self, data: bytes | memoryview) -> Sequence[bytes | memoryview]:
        return (data,)

    def finish(self) -> bytes:
        return b""


@dataclass(frozen=True)
class CipherKind:
    name: str
    #: Appended to chunk names after the compression extension (".age"), or "".
    extension: str
    make: Callable[[], Cipher]
    #: The manifest's output.encryption: scheme and recipient fingerprints, never keys.
    description: EncryptionInfo = field(default_factory=EncryptionInfo)


NO_CIPHER = CipherKind("none", "", _Plain, EncryptionInfo("none"))
