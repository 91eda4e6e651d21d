"""WinZip AE-2 encryption (AES-256), as 7-Zip and WinZip read it.

Per entry: PBKDF2-HMAC-SHA1(password, 16-byte salt, 1000 rounds) gives 66 bytes: the
AES key, the HMAC-SHA1 key and a 2-byte password verifier. The data is AES-CTR with
WinZip's counter, a 16-byte *little-endian* integer starting at 1 (so not the standard
big-endian CTR mode), and is followed by the first 10 bytes of HMAC-SHA1 of the
ciphertext. Stored entry data: salt, verifier, ciphertext, authentication code.
"""

from __future__ import annotations

import hmac
import os
from hashlib import sha1

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

KEY_SIZE = 32
SALT_SIZE = 16
VERIFIER_SIZE = 2
AUTH_CODE_SIZE = 10
#: Bytes AE-2 adds around the ciphertext.
OVERHEAD = SALT_SIZE + VERIFIER_SIZE + AUTH_CODE_SIZE
_ITERATIONS = 1000
_BLOCK = 16
_PAGE_BLOCKS = 1 << 16


class WrongZipPassword(ValueError):
    pass


def derive_keys(password: bytes, salt: bytes) -> tuple[bytes, bytes, bytes]:
    """(AES key, HMAC key, password verifier)."""
    material = PBKDF2HMAC(
        algorithm=hashes.SHA1(),  # noqa: S303 - fixed by the WinZip AE format
        length=2 * KEY_SIZE + VERIFIER_SIZE,
        salt=salt,
        iterations=_ITERATIONS,
    ).derive(password)
    return material[:KEY_SIZE], material[KEY_SIZE : 2 * KEY_SIZE], material[2 * KEY_SIZE :]


class _LittleEndianCtr:
    """AES-CTR with WinZip's little-endian counter: AES-ECB over counter blocks, XORed in.
    Bytes may arrive in any split; keystream is made a page (65,536 blocks) at a time."""

    def __init__(self, key: bytes) -> None:
        self._ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305
        # Block i of a page holds counter page * 65536 + i: bytes 0-1 are i, set once
        # here; bytes 2-7 are the page number, stamped per page with strided writes.
        self._counters = bytearray(_PAGE_BLOCKS * _BLOCK)
        self._counters[0::_BLOCK] = bytes(i & 0xFF for i in range(_PAGE_BLOCKS))
        self._counters[1::_BLOCK] = bytes(i >> 8 for i in range(_PAGE_BLOCKS))
        self._page = -1
        self._keystream = b""
        #: Data bytes processed so far; byte n uses counter 1 + n // 16.
        self._position = 0

    def _load_page(self, page: int) -> None:
        for byte in range(6):
            value = (page >> (8 * byte)) & 0xFF
            self._counters[2 + byte :: _BLOCK] = bytes([value]) * _PAGE_BLOCKS
        self._keystream = self._ecb.update(bytes(self._counters))
        self._page = page

    def apply(self, data: bytes) -> bytes:
        out = []
        view = memoryview(data)
        while view:
            # Keystream offset of counter 1 + position // 16 (counters start at 1).
            absolute = self._position + _BLOCK
            page, offset = divmod(absolute, _PAGE_BLOCKS * _BLOCK)
            if page != self._page:
                self._load_page(page)
            take = min(len(view), len(self._keystream) - offset)
            piece = view[:take]
            stream = self._keystream[offset : offset + take]
            out.append(
                (int.from_bytes(piece, "little") ^ int.from_bytes(stream, "little")).to_bytes(
                    take, "little"
                )
            )
            view = view[take:]
            self._position += take
        return b"".join(out)


class AesEntryEncryptor:
    """Encrypts one zip entry's (compressed) data as a stream."""

    def __init__(self, password: bytes) -> None:
        salt = os.urandom(SALT_SIZE)
        aes_key, hmac_key, verifier = derive_keys(password, salt)
        self._ctr = _LittleEndianCtr(aes_key)
        self._mac = hmac.new(hmac_key, digestmod=sha1)
        self.prefix = salt + verifier

    def encrypt(self, data: bytes) -> bytes:
        sealed = self._ctr.apply(data)
        self._mac.update(sealed)
        return sealed

    def auth_code(self) -> bytes:
        return self._mac.digest()[:AUTH_CODE_SIZE]


class AesEntryDecryptor:
    """Decrypts one entry; `verify` must pass before any plaintext is trusted."""

    def __init__(self, password: bytes, prefix: bytes) -> None:
        salt, verifier = prefix[:SALT_SIZE], prefix[SALT_SIZE:]
        aes_key, hmac_key, expected = derive_keys(password, salt)
        if not hmac.compare_digest(verifier, expected):
            raise WrongZipPassword("wrong zip password")
        self._ctr = _LittleEndianCtr(aes_key)
        self._mac = hmac.new(hmac_key, digestmod=sha1)

    def decrypt(self, data: bytes) -> bytes:
        self._mac.update(data)
        return self._ctr.apply(data)

    def verify(self, auth_code: bytes) -> bool:
        return hmac.compare_digest(self._mac.digest()[:AUTH_CODE_SIZE], auth_code)
