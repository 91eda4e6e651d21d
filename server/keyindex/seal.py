"""Exported key values, sealed in the index so that a later export can name deleted rows
in its tombstones: AES-SIV (deterministic, misuse-resistant authenticated encryption)
under a key derived from the server's index key. Only a daemon holding that key can open
them; the index itself never holds a key value in clear."""

from __future__ import annotations

from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from sluice.server.errors import DataLoss

_CONTEXT = [b"sluice sealed key v1"]


class KeySealer:
    def __init__(self, seal_key: bytes) -> None:
        self._cipher = AESSIV(seal_key)

    def seal(self, texts: Iterable[str]) -> list[bytes]:
        return [self._cipher.encrypt(text.encode(), _CONTEXT) for text in texts]

    def open(self, blobs: Iterable[bytes]) -> list[str]:
        try:
            return [self._cipher.decrypt(blob, _CONTEXT).decode() for blob in blobs]
        except InvalidTag:
            raise DataLoss("a sealed key in the parent's key index does not open") from None
