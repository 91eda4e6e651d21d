"""Reading the age v1 file format: identities, header parsing and authentication, and
the STREAM payload. Everything is authenticated before it is returned; a wrong key,
a truncation or a flipped bit raises AgeFormatError."""

from __future__ import annotations

import hmac
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from sluice.format import bech32
from sluice.format.age import (
    BODY_COLUMNS,
    FILE_KEY_SIZE,
    IDENTITY_HRP,
    PAYLOAD_NONCE_SIZE,
    SEGMENT_SIZE,
    TAG_SIZE,
    VERSION_LINE,
    X25519_LABEL,
    AgeFormatError,
    Stanza,
    b64decode,
    header_mac,
    hkdf,
    scrypt_key,
    segment_nonce,
)

_ZERO_NONCE = bytes(12)
_MAX_HEADER_LINE = 4096
#: The largest scrypt work factor accepted on read, as the age tool does: a file must
#: not be able to make its reader spend unbounded time and memory.
MAX_SCRYPT_WORK_FACTOR = 22


class Identity(Protocol):
    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        """The file key, if one of the stanzas is addressed to this identity."""
        ...


@dataclass(frozen=True)
class X25519Identity:
    secret: bytes

    @classmethod
    def parse(cls, text: str) -> X25519Identity:
        try:
            hrp, secret = bech32.decode(text.strip())
        except bech32.Bech32Error as exc:
            raise AgeFormatError(f"not an age identity ({exc})") from None
        if hrp != IDENTITY_HRP or len(secret) != 32:
            raise AgeFormatError("not an age identity (expected AGE-SECRET-KEY-1...)")
        return cls(secret)

    @property
    def recipient_key(self) -> bytes:
        return X25519PrivateKey.from_private_bytes(self.secret).public_key().public_bytes_raw()

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        private = X25519PrivateKey.from_private_bytes(self.secret)
        own = self.recipient_key
        for stanza in stanzas:
            if stanza.kind != "X25519":
                continue
            if len(stanza.args) != 1 or len(stanza.body) != FILE_KEY_SIZE + TAG_SIZE:
                raise AgeFormatError("malformed X25519 stanza")
            share = b64decode(stanza.args[0])
            if len(share) != 32:
                raise AgeFormatError("malformed X25519 stanza")
            try:
                shared = private.exchange(X25519PublicKey.from_public_bytes(share))
            except ValueError:
                raise AgeFormatError("malformed X25519 stanza (low-order share)") from None
            wrap_key = hkdf(shared, share + own, X25519_LABEL)
            try:
                return ChaCha20Poly1305(wrap_key).decrypt(_ZERO_NONCE, stanza.body, None)
            except InvalidTag:
                continue  # addressed to another recipient
        return None


@dataclass(frozen=True)
class PassphraseIdentity:
    passphrase: bytes

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        scrypt = [s for s in stanzas if s.kind == "scrypt"]
        if not scrypt:
            return None
        if len(stanzas) != 1:
            raise AgeFormatError("an scrypt stanza must be the only one in the header")
        stanza = scrypt[0]
        if len(stanza.args) != 2 or not stanza.args[1].isdigit():
            raise AgeFormatError("malformed scrypt stanza")
        salt, work_factor = b64decode(stanza.args[0]), int(stanza.args[1])
        if len(salt) != 16 or not 1 <= work_factor <= MAX_SCRYPT_WORK_FACTOR:
            raise AgeFormatError("scrypt stanza salt or work factor out of range")
        key = scrypt_key(self.passphrase, salt, work_factor)
        try:
            return ChaCha20Poly1305(key).decrypt(_ZERO_NONCE, stanza.body, None)
        except InvalidTag:
            raise AgeFormatError("wrong passphrase") from None


def read_identities(text: str) -> list[X25519Identity]:
    """Identities from an age identity file: one AGE-SECRET-KEY-1... per line, # comments."""
    lines = [line.strip() for line in text.splitlines()]
    identities = [X25519Identity.parse(line) for line in lines if line and not line.startswith("#")]
    if not identities:
        raise AgeFormatError("no AGE-SECRET-KEY-1... line in the identity file")
    return identities


def _line(stream: BinaryIO) -> bytes:
    line = stream.readline(_MAX_HEADER_LINE)
    if not line.endswith(b"\n"):
        raise AgeFormatError("truncated or malformed age header")
    return line[:-1]


def read_header(stream: BinaryIO) -> tuple[list[Stanza], bytes, bytes]:
    """(stanzas, the header bytes the MAC covers, the MAC) of the age file at `stream`."""
    if _line(stream) != VERSION_LINE:
        raise AgeFormatError("not an age v1 file")
    covered = VERSION_LINE + b"\n"
    stanzas: list[Stanza] = []
    while True:
        line = _line(stream)
        if line.startswith(b"--- "):
            covered += b"---"
            return stanzas, covered, b64decode(line[4:].decode("ascii", "replace"))
        parts = line.decode("ascii", "replace").split(" ")
        if parts[0] != "->" or len(parts) < 2:
            raise AgeFormatError("malformed age header")
        body_lines = []
        while True:
            body = _line(stream)
            body_lines.append(body)
            if len(body) < BODY_COLUMNS:
                break
        covered += line + b"\n" + b"".join(b + b"\n" for b in body_lines)
        body_text = b"".join(body_lines).decode("ascii", "replace")
        stanzas.append(Stanza(parts[1], tuple(parts[2:]), b64decode(body_text)))


def decrypt_stream(stream: BinaryIO, identities: Sequence[Identity]) -> Iterator[bytes]:
    """Plaintext segments of the age file at `stream`, each authenticated before it is
    yielded; the caller must still treat the file as failed until the iterator ends."""
    stanzas, covered, mac = read_header(stream)
    file_key = None
    for identity in identities:
        file_key = identity.unwrap(stanzas)
        if file_key is not None:
            break
    if file_key is None:
        raise AgeFormatError("no identity matches any recipient of this file (wrong key?)")
    if not hmac.compare_digest(header_mac(file_key, covered), mac):
        raise AgeFormatError("header authentication failed (tampered header)")
    nonce = stream.read(PAYLOAD_NONCE_SIZE)
    if len(nonce) != PAYLOAD_NONCE_SIZE:
        raise AgeFormatError("truncated age file (no payload)")
    aead = ChaCha20Poly1305(hkdf(file_key, nonce, b"payload"))
    sealed_size = SEGMENT_SIZE + TAG_SIZE
    current = stream.read(sealed_size)
    counter = 0
    while True:
        following = stream.read(sealed_size) if len(current) == sealed_size else b""
        last = not following
        if len(current) < TAG_SIZE:
            raise AgeFormatError("truncated age payload")
        try:
            plain = aead.decrypt(segment_nonce(counter, last=last), current, None)
        except InvalidTag:
            raise AgeFormatError(
                f"payload segment {counter} failed authentication (tampered or truncated)"
            ) from None
        if last and not plain and counter > 0:
            raise AgeFormatError("empty final segment after a full one")
        yield plain
        if last:
            return
        counter += 1
        current = following
