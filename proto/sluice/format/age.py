"""The age v1 file format (age-encryption.org/v1): constants, stanzas, the header and
its MAC, and the payload nonces, shared by the writer (the pipeline's age cipher) and
the reader (age_reader, used by `sluice export read`).

    age-encryption.org/v1
    -> X25519 <ephemeral share>          one stanza per recipient (or one scrypt stanza)
    <file key wrapped with ChaCha20-Poly1305>
    --- <HMAC-SHA256 of the header>
    <16-byte nonce><payload: ChaCha20-Poly1305 STREAM in 64 KiB segments>
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from sluice.format import bech32

VERSION_LINE = b"age-encryption.org/v1"
RECIPIENT_HRP = "age"
IDENTITY_HRP = "age-secret-key-"
SEGMENT_SIZE = 64 * 1024
TAG_SIZE = 16
FILE_KEY_SIZE = 16
PAYLOAD_NONCE_SIZE = 16
X25519_LABEL = b"age-encryption.org/v1/X25519"
SCRYPT_LABEL = b"age-encryption.org/v1/scrypt"
#: Stanza bodies are wrapped at this many base64 characters; a shorter line ends them.
BODY_COLUMNS = 64
_ZERO_NONCE = bytes(12)


class AgeFormatError(ValueError):
    """Malformed age input, a wrong key, or failed authentication; safe to show."""


def b64encode(data: bytes) -> str:
    """age's base64: standard alphabet, no padding."""
    return base64.b64encode(data).decode().rstrip("=")


def b64decode(text: str) -> bytes:
    # Canonical only: padding and non-alphabet characters are refused, as age does.
    if "=" in text or "\n" in text or "\r" in text:
        raise AgeFormatError("non-canonical base64 in the header")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError:
        raise AgeFormatError("invalid base64 in the header") from None
    if b64encode(data) != text:
        raise AgeFormatError("non-canonical base64 in the header")
    return data


def hkdf(key: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(key)


@dataclass(frozen=True)
class Stanza:
    kind: str
    args: tuple[str, ...]
    body: bytes

    def encode(self) -> bytes:
        line = " ".join(("->", self.kind, *self.args)).encode() + b"\n"
        text = b64encode(self.body)
        lines = [text[i : i + BODY_COLUMNS] for i in range(0, len(text), BODY_COLUMNS)]
        if not lines or len(lines[-1]) == BODY_COLUMNS:
            lines.append("")  # the body ends at the first line shorter than 64 columns
        return line + "".join(f"{part}\n" for part in lines).encode()


def parse_recipient(text: str) -> bytes:
    """The X25519 public key of an "age1..." recipient; raises AgeFormatError."""
    try:
        hrp, key = bech32.decode(text.strip())
    except bech32.Bech32Error as exc:
        raise AgeFormatError(f"not an age recipient ({exc})") from None
    if hrp != RECIPIENT_HRP or text.strip() != text.strip().lower():
        raise AgeFormatError("not an age recipient (expected a lowercase age1... key)")
    if len(key) != 32:
        raise AgeFormatError(f"not an age recipient (key is {len(key)} bytes, expected 32)")
    return key


def recipient_fingerprint(recipient: str) -> str:
    """What the manifest records for a recipient: identifies it without being it."""
    return "sha256:" + hashlib.sha256(recipient.strip().encode()).hexdigest()[:16]


def x25519_stanza(file_key: bytes, recipient_key: bytes) -> Stanza:
    ephemeral = X25519PrivateKey.generate()
    share = ephemeral.public_key().public_bytes_raw()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient_key))
    if shared == bytes(32):  # a low-order recipient key; cryptography may raise first
        raise AgeFormatError("the recipient key is a low-order point")
    wrap_key = hkdf(shared, share + recipient_key, X25519_LABEL)
    body = ChaCha20Poly1305(wrap_key).encrypt(_ZERO_NONCE, file_key, None)
    return Stanza("X25519", (b64encode(share),), body)


def scrypt_key(passphrase: bytes, salt: bytes, work_factor: int) -> bytes:
    return Scrypt(salt=SCRYPT_LABEL + salt, length=32, n=1 << work_factor, r=8, p=1).derive(
        passphrase
    )


def scrypt_stanza(file_key: bytes, passphrase: bytes, work_factor: int) -> Stanza:
    salt = os.urandom(16)
    body = ChaCha20Poly1305(scrypt_key(passphrase, salt, work_factor)).encrypt(
        _ZERO_NONCE, file_key, None
    )
    return Stanza("scrypt", (b64encode(salt), str(work_factor)), body)


def header_mac(file_key: bytes, header_without_mac: bytes) -> bytes:
    """MAC over the header up to and including "---" (without the space after it)."""
    return hmac.new(hkdf(file_key, b"", b"header"), header_without_mac, hashlib.sha256).digest()


def encode_header(file_key: bytes, stanzas: Sequence[Stanza]) -> bytes:
    head = VERSION_LINE + b"\n" + b"".join(s.encode() for s in stanzas) + b"---"
    return head + b" " + b64encode(header_mac(file_key, head)).encode() + b"\n"


def segment_nonce(counter: int, *, last: bool) -> bytes:
    """11-byte big-endian segment counter, then the last-segment flag."""
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")
