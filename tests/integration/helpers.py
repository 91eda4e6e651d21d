"""Reading exports back with plain tools (zstd, gzip, Polars, json), as a user would."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import polars as pl
import zstandard


def manifest_path(manifest_uri: str) -> Path:
    assert manifest_uri.startswith("file://"), manifest_uri
    return Path(manifest_uri.removeprefix("file://"))


def load_manifest(manifest_uri: str) -> dict[str, Any]:
    return json.loads(manifest_path(manifest_uri).read_text())


def decompress(data: bytes, compression: str, fmt: str) -> bytes:
    if fmt == "parquet" or compression == "none":
        return data
    if compression == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    if compression == "gzip":
        return gzip.decompress(data)
    raise AssertionError(compression)


def decode(data: bytes, fmt: str) -> pl.DataFrame:
    if fmt == "jsonl":
        return pl.read_ndjson(io.BytesIO(data)) if data else pl.DataFrame()
    if fmt == "parquet":
        return pl.read_parquet(io.BytesIO(data))
    if fmt == "csv":
        return pl.read_csv(io.BytesIO(data))
    if fmt == "json":
        document = json.loads(data)
        assert document["metadata"]["format"] == "sluice-json-v1"
        return pl.DataFrame(document["data"])
    if fmt == "arrow":
        return pl.read_ipc(io.BytesIO(data))
    raise AssertionError(fmt)


def read_export(manifest_uri: str) -> pl.DataFrame:
    """Every chunk, checked against its sha256, decoded and concatenated in order."""
    manifest = load_manifest(manifest_uri)
    folder = manifest_path(manifest_uri).parent
    fmt = manifest["output"]["format"]
    compression = manifest["output"]["compression"]
    frames = []
    for chunk in manifest["chunks"]:
        stored = (folder / chunk["path"]).read_bytes()
        assert len(stored) == chunk["stored_bytes"]
        assert hashlib.sha256(stored).hexdigest() == chunk["sha256"], chunk["path"]
        frame = decode(decompress(stored, compression, fmt), fmt)
        assert frame.height == chunk["records"]
        frames.append(frame)
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="vertical_relaxed")


def chunk_files(manifest_uri: str) -> list[str]:
    folder = manifest_path(manifest_uri).parent
    return sorted(p.name for p in folder.iterdir() if p.name != "manifest.json")


def skipped_rows(finished: Any) -> int:
    """The source rows a succeeded export left out under on_bad_rows "skip", as its
    manifest says (source.skipped_rows); its progress counter says the same, the rows
    skipped after its last chunk's rows included."""
    from sluice.v1 import export_pb2 as pb

    assert finished.state == pb.EXPORT_STATE_SUCCEEDED, finished.error
    manifest = load_manifest(finished.manifest_uri)
    assert manifest["source"]["on_bad_rows"] == "skip"
    skipped = int(manifest["source"]["skipped_rows"])
    live = finished.progress.counters.get("source/skipped_rows", 0)
    assert live == skipped, (finished.progress, skipped)
    assert "source" not in manifest["redaction"]["counts"]
    return skipped
