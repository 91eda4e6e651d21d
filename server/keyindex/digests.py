"""Keyed digests of rows, computed column-wise with Polars (no Python per row).

Every digest is HMAC-SHA256 under a key derived from the server's index key, so nothing
in an index can be recomputed, or guessed from low-entropy values, without that key:

- key digest: 16 bytes of HMAC over the *source* key columns (before redaction, so a
  masked key never merges two rows);
- column digest: 8 bytes of HMAC over one exported value (after redaction: the index
  describes what the export holds), with the column name as domain separation;
- row digest: 16 bytes of SHA-256 over the column digests (already keyed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from sluice.format.nested_types import instance
from sluice.server.pipeline.query import hidden_key_column
from sluice.server.pipeline.redaction.actions import HashKey, hmac_sha256_hex, sha256_hex
from sluice.server.pipeline.source import ROW_INDEX

KEY_DIGEST = "key_digest"
ROW_DIGEST = "row_digest"
SEALED_KEY = "sealed_key"
#: Index columns holding one exported column's digest are named "column:<name>".
COLUMN_PREFIX = "column:"
#: The exported key values as JSON (transient: sealed before anything is stored).
KEY_JSON = "__sluice_key_json"
#: Whether redaction changed a row's key (then errors show its digest, not its value).
KEY_REDACTED = "__sluice_key_redacted"
#: Stored widths of the digests, in bytes.
DIGEST_WIDTHS = {KEY_DIGEST: 16, ROW_DIGEST: 16}
COLUMN_DIGEST_BYTES = 8
_NULL = "\x00"
_SEPARATOR = "\x1f"
#: The version new chains' indexes are made under. v1 and v2 key digests joined
#: "<column>\x1f=<value>" with "\x1e", unescaped, so ("p\x1eb\x1f=q", "r") and
#: ("p", "q\x1eb\x1f=r") were one key; v3 prefixes each value with its length.
CURRENT_VERSION = "v3"


@dataclass(frozen=True)
class IndexKeys:
    """Sub-keys derived from the server's index key, one per purpose. Never printed."""

    digest: HashKey
    seal: bytes
    #: "v1": the daemon-wide keys of earlier versions; "v2": one chain's (run facts
    #: record it, as a key pass's fingerprint depends on the keys); "v3": one chain's,
    #: its key digests over length-prefixed values.
    version: str = CURRENT_VERSION

    def __repr__(self) -> str:
        return f"IndexKeys(id={self.key_id})"

    @classmethod
    def derive(cls, base: bytes) -> IndexKeys:
        """The daemon-wide keys every index was made under before keys were per chain
        (v1): still read, and continued, in chains that began under them."""
        return cls._under(base, b"sluice key index v1 ", "v1")

    @classmethod
    def for_chain(
        cls, base: bytes, created_by: str, dataset: str, version: str = CURRENT_VERSION
    ) -> IndexKeys:
        """The keys of one creator's chain in one dataset (v2 and later). One
        daemon-wide key let any principal digest candidate values and find them among
        another's key digests (a strictly redacted keyed export's index told which
        e-mails it held); chains are per creator, so a chain's keys are too. Each
        version has keys of its own, so its digests never meet another version's."""
        scope = json.dumps([created_by, dataset], ensure_ascii=True).encode()
        return cls._under(
            base, b"sluice key index " + version.encode() + b" " + scope + b" ", version
        )

    @classmethod
    def _under(cls, base: bytes, label: bytes, version: str) -> IndexKeys:
        digest = hmac.new(base, label + b"digest", hashlib.sha256).digest()
        seal = b"".join(
            hmac.new(base, label + b"seal " + part, hashlib.sha256).digest()
            for part in (b"1", b"2")
        )
        return cls(HashKey("key-index", digest), seal, version)

    @property
    def key_id(self) -> str:
        """Recorded in the manifest: two indexes compare only under the same key."""
        return self.digest.key_id


def column_digest_name(column: str) -> str:
    return COLUMN_PREFIX + column


class RowDigester:
    """Turns a redacted batch (ROW_INDEX, exported columns, hidden source key columns)
    into index rows: ROW_INDEX, key digest, row digest, column digests, and (transient,
    never stored in clear) the exported key as JSON and whether redaction changed it."""

    def __init__(self, keys: IndexKeys, key_columns: Sequence[str], columns: Sequence[str]) -> None:
        self._key = keys.digest
        self._prefixed = keys.version not in ("v1", "v2")
        self._key_columns = tuple(key_columns)
        self._columns = tuple(columns)

    def digests(self, frame: pl.DataFrame) -> pl.DataFrame:
        schema = frame.schema
        hidden = [hidden_key_column(i) for i in range(len(self._key_columns))]
        if self._prefixed:
            key_message = pl.concat_str(
                [
                    _length_prefixed(f"{name}{_SEPARATOR}", column, schema[column])
                    for name, column in zip(self._key_columns, hidden, strict=True)
                ]
            )
        else:
            key_message = pl.concat_str(
                [
                    _canonical(f"{name}{_SEPARATOR}", column, schema[column])
                    for name, column in zip(self._key_columns, hidden, strict=True)
                ],
                separator="\x1e",
            )
        column_hex = [
            hmac_sha256_hex(_canonical(f"{c}{_SEPARATOR}", c, schema[c]), self._key)
            .str.slice(0, 2 * COLUMN_DIGEST_BYTES)
            .alias(c)
            for c in self._columns
        ]
        hexed = frame.select(
            ROW_INDEX,
            hmac_sha256_hex(key_message, self._key)
            .str.slice(0, 2 * DIGEST_WIDTHS[KEY_DIGEST])
            .alias(KEY_DIGEST),
            *column_hex,
            key_json(self._key_columns, schema).alias(KEY_JSON),
            pl.any_horizontal(
                _text(name, schema[name]).ne_missing(_text(column, schema[column]))
                for name, column in zip(self._key_columns, hidden, strict=True)
            ).alias(KEY_REDACTED),
        )
        return hexed.select(
            ROW_INDEX,
            pl.col(KEY_DIGEST).str.decode("hex"),
            sha256_hex(pl.concat_str(self._columns).str.decode("hex"))
            .str.slice(0, 2 * DIGEST_WIDTHS[ROW_DIGEST])
            .str.decode("hex")
            .alias(ROW_DIGEST),
            *(pl.col(c).str.decode("hex").alias(column_digest_name(c)) for c in self._columns),
            KEY_JSON,
            KEY_REDACTED,
        )


def key_json(key_columns: Sequence[str], schema: Mapping[str, pl.DataType]) -> pl.Expr:
    """The exported key values as one JSON object per row (what the index seals and a
    tombstone is written from): binary values as hex text, which JSON has no type for
    (tombstones decode them back, see key_struct_type)."""
    return pl.struct(
        pl.col(c).bin.encode("hex") if schema[c] == pl.Binary else pl.col(c) for c in key_columns
    ).struct.json_encode()


def key_struct_type(key_columns: Sequence[str], schema: Mapping[str, pl.DataType]) -> pl.Struct:
    """The type key_json's objects decode into: binary keys as their hex text, and
    categorical ones as text at any depth (a deleted row's category may be gone from an
    enum)."""
    return pl.Struct({c: _decoded_type(schema[c]) for c in key_columns})


def _decoded_type(dtype: pl.DataType, *, nested: bool = False) -> pl.DataType:
    if (dtype == pl.Binary and not nested) or dtype.base_type() in (pl.Categorical, pl.Enum):
        return pl.String()
    if isinstance(dtype, pl.List):
        return pl.List(_decoded_type(instance(dtype.inner), nested=True))
    if isinstance(dtype, pl.Struct):
        return pl.Struct(
            {f.name: _decoded_type(instance(f.dtype), nested=True) for f in dtype.fields}
        )
    return dtype


def _text(column: str, dtype: pl.DataType) -> pl.Expr:
    """Unambiguous text of a non-null value: nested values as JSON, binary as hex."""
    value = pl.col(column)
    if dtype.is_nested() or isinstance(dtype, pl.Object):
        return pl.struct(value.alias("v")).struct.json_encode()
    if dtype == pl.Binary:
        return value.bin.encode("hex")
    return value.cast(pl.String)


def _canonical(prefix: str, column: str, dtype: pl.DataType) -> pl.Expr:
    """`prefix` and a value's text: null differs from "" (v1 and v2 key digests, and
    every column digest)."""
    value = pl.col(column)
    return (
        pl.when(value.is_null())
        .then(pl.lit(prefix + _NULL))
        .otherwise(pl.concat_str(pl.lit(prefix + "="), _text(column, dtype)))
    )


def _length_prefixed(prefix: str, column: str, dtype: pl.DataType) -> pl.Expr:
    """`prefix`, then the value's length in UTF-8 bytes, ":" and its text, or NUL for
    null (v3 key digests): values are delimited by their lengths, so no value can
    hold the start of the next column's."""
    value = pl.col(column)
    text = _text(column, dtype)
    return (
        pl.when(value.is_null())
        .then(pl.lit(prefix + _NULL))
        .otherwise(
            pl.concat_str(pl.lit(prefix), text.str.len_bytes().cast(pl.String), pl.lit(":"), text)
        )
    )
