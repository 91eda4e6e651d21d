"""Source files in S3 buckets and Azure containers, reached through the same sinks that
write exports.

One way into each store means one client per store built from the whole storage profile
(custom endpoints, web identity, managed identity, timeouts), one error translation, and
reads in retried byte ranges. Polars and fsspec never see a profile: the pipeline reads
the bytes, and the schema comes from those same bytes (a Parquet or Arrow footer, or the
first block of a text file), read by Polars exactly as a local file would be.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import IO, BinaryIO

import polars as pl
import pyarrow as pa

from sluice.server.errors import InvalidArgument
from sluice.server.pipeline.empty_tables import empty_table
from sluice.server.pipeline.fixed_offsets import utc_schema
from sluice.server.pipeline.footer_schemas import FOOTER_FORMATS, stored_schema
from sluice.server.pipeline.source_glob import MAX_FILES, SegmentMatcher, has_magic, too_many_files
from sluice.server.storage_errors import storage_errors
from sluice.sinks import ObjectInfo, Sink, open_sink, validate_key
from sluice.sinks.locations import without_credentials
from sluice.sinks.profiles import AzureProfile, S3Profile, profile_kind_for

#: Bytes of a CSV or NDJSON file read to infer its schema (Polars infers from the first
#: 100 rows, which this holds unless rows are over 80 KiB each).
SAMPLE_BYTES = 8 * 1024 * 1024
#: Objects one expansion may list (the literal prefix bounds the listing).
_MAX_LISTED = 1_000_000


def is_cloud(uri: str) -> bool:
    """Whether a source URI names an S3 bucket or an Azure container."""
    return bool(profile_kind_for(uri))


def split(uri: str) -> tuple[str, str]:
    """("s3://bucket", "path/in/it") from "s3://bucket/path/in/it" (likewise az://, abfs://)."""
    scheme, _, rest = uri.partition("://")
    netloc, _, path = rest.partition("/")
    return f"{scheme}://{netloc}", path


class CloudFiles:
    """The objects of one bucket or container, listed and opened through its sink."""

    def __init__(self, root: str, profile: S3Profile | AzureProfile | None) -> None:
        self.root = root
        try:
            with storage_errors():  # a profile secret that cannot be read
                self._sink: Sink = open_sink(root, profile=profile)
        except ValueError as exc:
            raise InvalidArgument("spec.source.uri", str(exc)) from None

    def expand(self, pattern: str) -> list[tuple[str, ObjectInfo]]:
        """The URIs of the objects a key or glob (`*`, `?`, `[...]` within a folder, `**`
        across folders) names, sorted (a stable order makes resuming possible), each with
        its listing: the size and version a run journals (server/execution/run_facts.py)
        are those of the objects it expanded to, with no second listing between."""
        literal = _literal_prefix(pattern)
        matcher = SegmentMatcher(pattern.split("/"), hidden_needs_dot=False)

        def wanted(key: str) -> bool:
            return key == pattern if literal == pattern else matcher.matches(key.split("/"))

        matches: list[ObjectInfo] = []
        with storage_errors():
            for listed, info in enumerate(self._sink.list(literal)):
                if listed >= _MAX_LISTED:
                    raise InvalidArgument(
                        "spec.source.uri",
                        f"more than {_MAX_LISTED} objects are listed for the pattern; narrow it",
                    )
                if wanted(info.key):
                    matches.append(info)
                    if len(matches) > MAX_FILES:
                        raise too_many_files(len(matches))
        for info in matches:
            try:
                validate_key(info.key)
            except ValueError as exc:
                raise InvalidArgument(
                    "spec.source.uri", f"cannot read {info.key!r}: {exc}"
                ) from None
        matches.sort(key=lambda info: info.key)
        return [(f"{self.root}/{info.key}", info) for info in matches]

    def listed(self, uris: Sequence[str]) -> dict[str, ObjectInfo]:
        """The listing (size, version) of each object of `uris` (under this root) that
        exists, from one listing of their common prefix: the identity a resumed export
        compares (server/execution/run_facts.py) when its expansion's is not at hand."""
        keys = {split(uri)[1]: uri for uri in uris}
        if not keys:
            return {}
        # A string prefix (a listing's), not a folder: that of the first and last key.
        first, last = min(keys), max(keys)
        pairs = enumerate(zip(first, last, strict=False))
        prefix = first[: next((n for n, (a, b) in pairs if a != b), len(first))]
        found: dict[str, ObjectInfo] = {}
        with storage_errors():
            for info in self._sink.list(prefix):
                if info.key in keys:
                    found[keys[info.key]] = info
        return found

    def open(self, uri: str) -> BinaryIO:
        """A seekable file over the object, read in retried byte ranges."""
        root, key = split(uri)
        if root != self.root:
            raise ValueError(
                f"{without_credentials(uri)!r} is not under {without_credentials(self.root)!r}"
            )
        with storage_errors():
            return self._sink.open(key)


def opener(
    files: tuple[str, ...], profile: S3Profile | AzureProfile | None
) -> Callable[[str], BinaryIO]:
    """Opens the given source files (all in one bucket or container)."""
    return CloudFiles(split(files[0])[0], profile).open


def sample_frame(handle: IO[bytes], fmt: str, separator: str) -> pl.LazyFrame:
    """A frame with the schema Polars gives the file, read from its footer (Parquet,
    Arrow) or its first block (CSV, NDJSON), never from the whole object."""
    with storage_errors():
        if fmt in FOOTER_FORMATS:
            return empty_frame(stored_schema(handle, fmt))
        head = first_lines(handle)
    if fmt == "csv":
        return pl.scan_csv(io.BytesIO(head), try_parse_dates=True, separator=separator)
    return pl.scan_ndjson(io.BytesIO(head))


def empty_frame(schema: pa.Schema) -> pl.LazyFrame:
    """No rows of `schema`, as every reader gives them (fixed-offset zones as UTC)."""
    frame = pl.from_arrow(empty_table(utc_schema(schema)))
    assert isinstance(frame, pl.DataFrame)
    return frame.lazy()


def first_lines(handle: IO[bytes]) -> bytes:
    """The first SAMPLE_BYTES of a text file, cut after its last whole line."""
    head = handle.read(SAMPLE_BYTES)
    if len(head) == SAMPLE_BYTES and b"\n" in head:
        head = head[: head.rfind(b"\n") + 1]  # never a cut row
    return head


def _literal_prefix(pattern: str) -> str:
    for index, char in enumerate(pattern):
        if has_magic(char):
            return pattern[:index]
    return pattern
