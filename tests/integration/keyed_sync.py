"""The keyed nightly-sync scenario, shared by the local and S3 tests: the source of each
day, what each export must hold, and the exact record diff expected, computed from the
documented digest construction with hashlib (not with Sluice's code)."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from collections.abc import Callable
from typing import Any

import blake3
import polars as pl
import zstandard

from tests.integration.helpers import decode

DIGEST_KEY = b"0123456789abcdef0123456789abcdef"
ROWS = 300
UPDATED = {10: {"amount": 1}, 20: {"name": "renamed", "amount": 1}, 30: {"name": "renamed"}}
DELETED = (5, 6)
INSERTED = (301, 302)


def day1() -> pl.DataFrame:
    ids = list(range(1, ROWS + 1))
    return pl.DataFrame(
        {"id": ids, "name": [f"name-{i}" for i in ids], "amount": [i * 10 for i in ids]}
    )


def day2() -> pl.DataFrame:
    rows = day1().filter(~pl.col("id").is_in(list(DELETED)))
    for key, change in UPDATED.items():
        hit = pl.col("id") == key
        rows = rows.with_columns(
            pl.when(hit).then(pl.lit(change["name"])).otherwise("name").alias("name")
            if "name" in change
            else pl.col("name"),
            pl.when(hit).then(pl.col("amount") + 1).otherwise("amount").alias("amount")
            if "amount" in change
            else pl.col("amount"),
        )
    inserted = pl.DataFrame(
        {
            "id": list(INSERTED),
            "name": [f"new-{i}" for i in INSERTED],
            "amount": list(INSERTED),
        }
    )
    return pl.concat([rows, inserted])


def key_digest(key: int, created_by: str = "", dataset: str = "items") -> str:
    """README "Key index": HMAC-SHA256 under the chain's sub-key of the index key (its
    creator and dataset; v3), of each key column's name, \x1f, the value's length in
    UTF-8 bytes, ":" and the value, 16 bytes."""
    scope = json.dumps([created_by, dataset], ensure_ascii=True).encode()
    label = b"sluice key index v3 " + scope + b" digest"
    sub_key = hmac.new(DIGEST_KEY, label, hashlib.sha256).digest()
    value = str(key).encode()
    message = b"id\x1f" + str(len(value)).encode() + b":" + value
    return hmac.new(sub_key, message, hashlib.sha256).hexdigest()[:32]


def expected_record_diff(base_id: str, other_id: str) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = [
        {"change": "removed", "key_digest": key_digest(k)} for k in DELETED
    ]
    changes += [{"change": "added", "key_digest": key_digest(k)} for k in INSERTED]
    changes += [
        {
            "change": "changed",
            "key_digest": key_digest(k),
            "columns": [c for c in ("name", "amount") if c in change],
        }
        for k, change in UPDATED.items()
    ]
    changes.sort(key=lambda c: c["key_digest"])
    summary = {
        "base_export_id": base_id,
        "other_export_id": other_id,
        # Counts are JSON numbers (the CLI does not print int64 as strings).
        "added": len(INSERTED),
        "removed": len(DELETED),
        "changed": len(UPDATED),
        "unchanged": ROWS - len(DELETED) - len(UPDATED),
        "changed_columns": {"amount": 2, "name": 2},
    }
    return [*changes, {"summary": summary}]


def read_data_file(read: Callable[[str], bytes], folder: str, entry: dict[str, Any]) -> bytes:
    stored = read(f"{folder}/{entry['path']}")
    assert len(stored) == entry["stored_bytes"]
    assert hashlib.sha256(stored).hexdigest() == entry["sha256"], entry["path"]
    return stored


def read_rows(read: Callable[[str], bytes], manifest: dict[str, Any]) -> pl.DataFrame:
    """The export's records (jsonl + zstd), every chunk checked against its sha256."""
    folder = f"{manifest['dataset']}/{manifest['export_id']}"
    frames = [_jsonl(read_data_file(read, folder, chunk)) for chunk in manifest["chunks"]]
    return pl.concat(frames) if frames else pl.DataFrame()


def read_tombstones(read: Callable[[str], bytes], manifest: dict[str, Any]) -> pl.DataFrame:
    entry = manifest["tombstones"]
    folder = f"{manifest['dataset']}/{manifest['export_id']}"
    return _jsonl(read_data_file(read, folder, entry))


def tombstones_content_digest(read: Callable[[str], bytes], manifest: dict[str, Any]) -> str:
    """The tombstone file's content digest recomputed from storage as the manifest
    documents it: keyed BLAKE3 of the plaintext, its key derived from DIGEST_KEY."""
    folder = f"{manifest['dataset']}/{manifest['export_id']}"
    stored = read_data_file(read, folder, manifest["tombstones"])
    plain = zstandard.ZstdDecompressor().decompressobj().decompress(stored)
    key = hmac.new(DIGEST_KEY, b"sluice chunk content digest blake3 v1", hashlib.sha256)
    return "blake3:" + blake3.blake3(plain, key=key.digest()).hexdigest()


def index_rows(read: Callable[[str], bytes], manifest: dict[str, Any]) -> pl.DataFrame:
    entry = manifest["key_index"]
    folder = f"{manifest['dataset']}/{manifest['export_id']}"
    return pl.read_ipc_stream(io.BytesIO(read_data_file(read, folder, entry)))


def _jsonl(stored: bytes) -> pl.DataFrame:
    return decode(zstandard.ZstdDecompressor().decompressobj().decompress(stored), "jsonl")


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
