"""Reading an export back: manifest signature, then per chunk the sha256 of the stored
bytes, decryption (age or zip AES), decompression, in that order.

A chunk is handed out only once all of it has been verified and authenticated: the
stored bytes are spooled (hashed on the way) and checked against the manifest before
any decryption, and the plaintext is spooled until the cipher's last authentication
tag has passed. So no record of a chunk that fails is ever emitted.
"""

from __future__ import annotations

import hashlib
import posixpath
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, BinaryIO, cast

import fsspec
import zstandard
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sluice.cloud_uris import (
    BUCKET_NOT_REPEATED,
    readable_uri_refusal,
    shown_uri,
    unquotable_bucket,
)
from sluice.format.age import AgeFormatError
from sluice.format.age_reader import (
    Identity,
    PassphraseIdentity,
    decrypt_stream,
    read_identities,
)
from sluice.format.json_fields import ManifestError
from sluice.format.layout import chunk_path_fits, manifest_key, signature_key
from sluice.format.manifest import Manifest, OutputInfo
from sluice.format.signatures import SignatureError, load_public_key, verify_with_any
from sluice.format.stored_objects import ChunkEntry
from sluice.format.zip_reader import ZipFormatError, read_zip

#: Plaintext and stored bytes stay in memory up to this size, then spill to a temp file.
SPOOL_IN_MEMORY = 32 * 1024 * 1024
_COPY_SIZE = 1 << 20
#: The most of a storage library's error message an ExportReadError repeats.
_MAX_DETAIL = 300


class ExportReadError(Exception):
    """The export cannot be read or failed verification; one line, safe to show."""


@dataclass(frozen=True)
class VerifiedChunk:
    index: int
    path: str
    records: int
    #: The chunk's decoded-format bytes (jsonl, csv, ...), positioned at the start.
    plaintext: IO[bytes]


@dataclass(frozen=True)
class Keys:
    """What may open the chunks: age identities, and a passphrase (age scrypt or zip)."""

    identities: tuple[Identity, ...] = ()
    passphrase: bytes = b""

    def age_identities(self) -> list[Identity]:
        found = list(self.identities)
        if self.passphrase:
            found.append(PassphraseIdentity(self.passphrase))
        return found


class ExportReader:
    """Opens the manifest at `manifest_uri` (a path, file:// or fsspec URL) and verifies
    its signature: against `public_key` when given (then a signature is required), else
    against `published_keys()` (the server's signing key, then the older ones it still
    accepts for verification) when manifest.json.sig exists. A manifest without one is
    refused when `published_keys()` names a key (the server signs: the signature may
    have been removed along with an edit), unless `allow_unsigned`."""

    def __init__(
        self,
        manifest_uri: str,
        keys: Keys,
        *,
        public_key: Ed25519PublicKey | None = None,
        published_keys: Callable[[], Sequence[str]] | None = None,
        allow_unsigned: bool = False,
    ) -> None:
        refusal = readable_uri_refusal(manifest_uri)
        if refusal is not None:
            # Before fsspec: s3fs and adlfs would quote a key pasted into the URI in
            # their own errors (botocore's "Invalid bucket name ..."), and fsspec would
            # unchain `simplecache::s3://...` past the checks.
            raise ExportReadError(refusal)
        # A legacy bucket name (or a bare secret read as one) is never repeated.
        self._unquotable = unquotable_bucket(manifest_uri)
        self._keys = keys
        shown = shown_uri(manifest_uri)
        with self._storage(f"no manifest at {shown}", f"cannot read manifest {shown}"):
            self._fs, self._manifest_path = fsspec.core.url_to_fs(manifest_uri)
            if self._fs.isdir(self._manifest_path):
                self._manifest_path = manifest_key(self._manifest_path)
        self._folder = posixpath.dirname(self._manifest_path)
        raw = self._read_small(self._manifest_path, "manifest")
        self.signed = self._check_signature(raw, public_key, published_keys, allow_unsigned)
        try:
            self.manifest = Manifest.from_json(raw)
        except ManifestError as exc:
            raise ExportReadError(f"the manifest is unreadable: {exc}") from None
        self._check_chunk_names()

    @property
    def output(self) -> OutputInfo:
        return self.manifest.output

    @contextmanager
    def _storage(self, missing: str, failing: str) -> Iterator[None]:
        """Any error of the storage library (fsspec, s3fs, adlfs, botocore, azure-core:
        a missing credential, a refused request, a network failure) as one
        ExportReadError line, never a traceback; the bucket is left out of it when it
        may not be quoted (a legacy name, or a bare secret read as one)."""
        try:
            yield
        except (ExportReadError, ImportError):
            raise  # ImportError: a URL's storage library is not installed (read.py's hint)
        except FileNotFoundError:
            raise ExportReadError(self._scrubbed(missing)) from None
        except Exception as exc:  # noqa: BLE001 - each storage library raises its own types
            detail = " ".join(str(exc).split())[:_MAX_DETAIL] or type(exc).__name__
            raise ExportReadError(self._scrubbed(f"{failing}: {detail}")) from None

    def _scrubbed(self, message: str) -> str:
        if self._unquotable:
            message = message.replace(self._unquotable, BUCKET_NOT_REPEATED)
        return message

    def _read_small(self, path: str, what: str) -> bytes:
        with (
            self._storage(f"no {what} at {path}", f"cannot read {what} {path}"),
            self._fs.open(path, "rb") as handle,
        ):
            return cast(bytes, handle.read())

    def _check_signature(
        self,
        manifest: bytes,
        public_key: Ed25519PublicKey | None,
        published_keys: Callable[[], Sequence[str]] | None,
        allow_unsigned: bool,
    ) -> bool:
        signature_path = signature_key(self._manifest_path)
        failing = f"cannot look for signature {signature_path}"
        with self._storage(failing, failing):
            signed = self._fs.exists(signature_path)
        if not signed:
            if public_key is not None:
                raise ExportReadError(
                    "the manifest is not signed (no manifest.json.sig) but a public key was given"
                )
            if not allow_unsigned and published_keys is not None and published_keys():
                raise ExportReadError(
                    "the manifest is not signed (no manifest.json.sig), yet the server signs "
                    "manifests: its signature was removed (with an edit?), or it was made "
                    "before the server signed; pass --allow-unsigned to read it anyway"
                )
            return False
        published: Sequence[str] = ()
        if public_key is None:
            published = published_keys() if published_keys is not None else ()
            if not published:
                raise ExportReadError(
                    "the manifest is signed but no public key is known: pass --public-key, "
                    "or --server for a daemon that publishes its key"
                )
        try:
            accepted = [public_key] if public_key else [load_public_key(p) for p in published]
            verify_with_any(manifest, self._read_small(signature_path, "signature"), accepted)
        except SignatureError as exc:
            raise ExportReadError(str(exc)) from None
        return True

    def _check_chunk_names(self) -> None:
        for position, chunk in enumerate(self.manifest.chunks):
            if not chunk_path_fits(chunk.path, position, chunk.index):
                raise ExportReadError(f"manifest chunk {position} has an unexpected path or index")

    def chunks(self) -> Iterator[VerifiedChunk]:
        for chunk in self.manifest.chunks:
            yield self._read_chunk(chunk)

    def _read_chunk(self, chunk: ChunkEntry) -> VerifiedChunk:
        index, path = chunk.index, chunk.path
        where = f"chunk {index} ({path})"
        stored = self._fetch_verified(chunk, where)
        plaintext = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        try:
            for piece in self._decompress(self._decrypt(stored)):
                plaintext.write(piece)
        except (AgeFormatError, ZipFormatError) as exc:
            plaintext.close()
            raise ExportReadError(f"{where}: {exc}") from None
        except (zstandard.ZstdError, zlib.error) as exc:
            plaintext.close()
            raise ExportReadError(f"{where}: cannot decompress ({exc})") from None
        finally:
            stored.close()
        plaintext.seek(0)
        return VerifiedChunk(index, path, chunk.records, cast(IO[bytes], plaintext))

    def _fetch_verified(self, chunk: ChunkEntry, where: str) -> IO[bytes]:
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        digest = hashlib.sha256()
        try:
            with (
                self._storage(f"{where} is missing", f"cannot read {where}"),
                self._fs.open(posixpath.join(self._folder, chunk.path), "rb") as handle,
            ):
                while piece := handle.read(_COPY_SIZE):
                    digest.update(piece)
                    spool.write(piece)
        except ExportReadError:
            spool.close()
            raise
        size = spool.tell()
        if size != chunk.stored_bytes or digest.hexdigest() != chunk.sha256:
            spool.close()
            raise ExportReadError(
                f"{where} does not match the manifest's sha256 "
                f"(tampered, truncated or swapped; {size} bytes stored)"
            )
        spool.seek(0)
        return cast(IO[bytes], spool)

    def _decrypt(self, stored: IO[bytes]) -> Iterable[bytes]:
        scheme = self.output.encryption.scheme
        compression = self.output.compression
        stream = cast(BinaryIO, stored)
        if scheme == "age":
            identities = self._keys.age_identities()
            if not identities:
                raise AgeFormatError("the export is age-encrypted: give --identity or a passphrase")
            return decrypt_stream(stream, identities)
        if compression == "zip" and not self.output.internal_compression:
            # The zip container is decrypted (zip AES) and inflated in one step.
            return read_zip(stream, self._keys.passphrase)
        if scheme != "none":
            raise ExportReadError(f"unknown encryption scheme {scheme!r}")
        return _pieces(stream)

    def _decompress(self, pieces: Iterable[bytes]) -> Iterator[bytes]:
        compression = self.output.compression
        if self.output.internal_compression or compression in {"none", "zip"}:
            yield from pieces
            return
        if compression == "zstd":
            zstd = zstandard.ZstdDecompressor().decompressobj()
            for piece in pieces:
                yield zstd.decompress(piece)
            if not zstd.eof:
                raise zstandard.ZstdError("truncated zstd frame")
            return
        if compression == "gzip":
            gzip = zlib.decompressobj(wbits=31)
            for piece in pieces:
                yield gzip.decompress(piece)
            if not gzip.eof:
                raise zlib.error("truncated gzip stream")
            return
        raise ExportReadError(f"unknown compression {compression!r}")


def _pieces(stream: BinaryIO) -> Iterator[bytes]:
    while piece := stream.read(_COPY_SIZE):
        yield piece


def load_identities(texts: Sequence[str]) -> tuple[Identity, ...]:
    """age identities from the texts of identity files; raises ExportReadError."""
    found: list[Identity] = []
    for text in texts:
        try:
            found.extend(read_identities(text))
        except AgeFormatError as exc:
            raise ExportReadError(f"identity file: {exc}") from None
    return tuple(found)
