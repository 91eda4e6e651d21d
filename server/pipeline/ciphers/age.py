"""Writing the age v1 file format (age-encryption.org/v1), one age file per chunk.

    age-encryption.org/v1
    -> X25519 <ephemeral share>          one stanza per recipient (or one scrypt stanza)
    <file key wrapped with ChaCha20-Poly1305>
    --- <HMAC-SHA256 of the header>
    <16-byte nonce><payload: ChaCha20-Poly1305 STREAM in 64 KiB segments>

`AgeEncryptor` streams: it holds at most one 64 KiB plaintext segment, because a
segment can only be sealed once it is known whether it is the last one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from sluice.server.pipeline.ciphers import bech32

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


class _PassphraseStanzas:
    """Passphrase stanzas cost one scrypt each (about a second at work factor 18), so the
    next chunk's file key and stanza are derived on a helper thread while the current
    chunk streams; scrypt runs outside the GIL. Each file still gets its own key and salt."""

    def __init__(self, passphrase: bytes, work_factor: int) -> None:
        self._passphrase = passphrase
        self._work_factor = work_factor
        self._lock = threading.Lock()
        self._next: Future[tuple[bytes, Stanza]] | None = None

    def _derive(self) -> tuple[bytes, Stanza]:
        file_key = os.urandom(FILE_KEY_SIZE)
        return file_key, scrypt_stanza(file_key, self._passphrase, self._work_factor)

    def take(self) -> tuple[bytes, Stanza]:
        with self._lock:
            pending, self._next = self._next, _start(self._derive)
        return pending.result() if pending is not None else self._derive()


def _start(work: Callable[[], tuple[bytes, Stanza]]) -> Future[tuple[bytes, Stanza]]:
    future: Future[tuple[bytes, Stanza]] = Future()

    def run() -> None:
        try:
            future.set_result(work())
        except BaseException as exc:  # noqa: BLE001 - delivered to whoever takes the result
            future.set_exception(exc)

    threading.Thread(target=run, name="age-scrypt", daemon=True).start()
    return future


@dataclass(frozen=True)
class AgeEncryption:
    """Who can open the chunks: X25519 recipients, or (exclusively) one passphrase."""

    recipient_keys: tuple[bytes, ...] = ()
    #: Never in repr: plans and their stages may end up in logs.
    passphrase: bytes = field(default=b"", repr=False)
    scrypt_work_factor: int = 18
    _passphrase_stanzas: _PassphraseStanzas | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.passphrase:
            stanzas = _PassphraseStanzas(self.passphrase, self.scrypt_work_factor)
            object.__setattr__(self, "_passphrase_stanzas", stanzas)

    def make(self) -> AgeEncryptor:
        return AgeEncryptor(self)

    def file_key_and_stanzas(self) -> tuple[bytes, list[Stanza]]:
        if self._passphrase_stanzas is not None:
            # age requires an scrypt stanza to be the only one.
            file_key, stanza = self._passphrase_stanzas.take()
            return file_key, [stanza]
        file_key = os.urandom(FILE_KEY_SIZE)
        return file_key, [x25519_stanza(file_key, key) for key in self.recipient_keys]


class AgeEncryptor:
    """One age file, written as a stream (a `Cipher` of the pipeline)."""

    def __init__(self, encryption: AgeEncryption) -> None:
        file_key, stanzas = encryption.file_key_and_stanzas()
        if not stanzas:
            raise AgeFormatError("age encryption needs a recipient or a passphrase")
        nonce = os.urandom(PAYLOAD_NONCE_SIZE)
        self._aead = ChaCha20Poly1305(hkdf(file_key, nonce, b"payload"))
        self._pending_header = encode_header(file_key, stanzas) + nonce
        self._segment = bytearray()
        self._counter = 0

    def encrypt(self, data: bytes) -> bytes:
        out = [self._pending_header] if self._pending_header else []
        self._pending_header = b""
        view = memoryview(data)
        # A segment is sealed only when more data follows it: the last one is flagged.
        if self._segment and len(self._segment) + len(view) > SEGMENT_SIZE:
            take = SEGMENT_SIZE - len(self._segment)
            self._segment += view[:take]
            view = view[take:]
            out.append(self._seal(bytes(self._segment), last=False))
            self._segment.clear()
        while len(view) > SEGMENT_SIZE:
            out.append(self._seal(view[:SEGMENT_SIZE], last=False))
            view = view[SEGMENT_SIZE:]
        self._segment += view
        return b"".join(out)

    def finish(self) -> bytes:
        tail = self._seal(bytes(self._segment), last=True)
        self._segment.clear()
        head, self._pending_header = self._pending_header, b""
        return head + tail

    def _seal(self, segment: bytes | memoryview, *, last: bool) -> bytes:
        sealed = self._aead.encrypt(segment_nonce(self._counter, last=last), segment, None)
        self._counter += 1
        return sealed
