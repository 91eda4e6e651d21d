"""Bech32 (BIP 173), the encoding of age keys ("age1...", "AGE-SECRET-KEY-1...").

age uses the original Bech32 checksum (not Bech32m) and lifts BIP 173's 90-character
limit, so this is a small standalone implementation rather than a Bitcoin library.
"""

from __future__ import annotations

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_INDEX = {char: value for value, char in enumerate(_CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


class Bech32Error(ValueError):
    """The string is not valid Bech32; the message says why (never echoes key material)."""


def _polymod(values: list[int]) -> int:
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit, generator in enumerate(_GENERATOR):
            if (top >> bit) & 1:
                checksum ^= generator
    return checksum


def _expand_hrp(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _regroup(data: bytes | list[int], from_bits: int, to_bits: int, *, pad: bool) -> list[int]:
    accumulator = 0
    bits = 0
    out: list[int] = []
    mask = (1 << to_bits) - 1
    for value in data:
        accumulator = (accumulator << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((accumulator >> bits) & mask)
    if pad:
        if bits:
            out.append((accumulator << (to_bits - bits)) & mask)
    elif bits >= from_bits or (accumulator << (to_bits - bits)) & mask:
        raise Bech32Error("invalid padding")
    return out


def encode(hrp: str, data: bytes) -> str:
    """Bech32 string of `data` under the human-readable part `hrp` (lowercase)."""
    words = _regroup(data, 8, 5, pad=True)
    polymod = _polymod([*_expand_hrp(hrp), *words, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[w] for w in words + checksum)


def decode(text: str) -> tuple[str, bytes]:
    """(hrp, data) of a Bech32 string; raises Bech32Error on any defect, checksum included."""
    if text.lower() != text and text.upper() != text:
        raise Bech32Error("mixed upper and lower case")
    text = text.lower()
    separator = text.rfind("1")
    if separator < 1 or separator + 7 > len(text):
        raise Bech32Error("missing separator or checksum")
    if any(not 33 <= ord(c) <= 126 for c in text):
        raise Bech32Error("characters outside printable ASCII")
    hrp = text[:separator]
    try:
        words = [_CHARSET_INDEX[c] for c in text[separator + 1 :]]
    except KeyError:
        raise Bech32Error("character outside the Bech32 alphabet") from None
    if _polymod([*_expand_hrp(hrp), *words]) != 1:
        raise Bech32Error("checksum mismatch")
    return hrp, bytes(_regroup(words[:-6], 5, 8, pad=False))
