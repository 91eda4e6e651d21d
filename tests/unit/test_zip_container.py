"""The zip container: plain chunks open with Python's zipfile, AES-256 chunks with the
real 7-Zip (and not with a wrong password); Sluice's own reader checks CRC and the AES
authentication code; Zip64 records appear when sizes need them."""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sluice.format.winzip_aes import _LittleEndianCtr
from sluice.format.zip_reader import ZipFormatError, read_entry, read_zip
from sluice.format.zip_spec import LIMIT_32
from sluice.server.pipeline.zip_container import ZipCompressor

DATA = b"".join(b'{"id": %d, "email": "user%d@example.com"}\n' % (i, i) for i in range(40_000))


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is not installed (make test-tools installs it)")
        pytest.skip(f"{tool} is not installed")
    return path


def make_zip(data: bytes, password: bytes = b"", step: int = 50_001) -> bytes:
    compressor = ZipCompressor(6, 0, entry_name="events.jsonl", password=password)
    parts = [compressor.compress(data[i : i + step]) for i in range(0, len(data), step)]
    return b"".join(parts) + compressor.flush()


def unzip(archive: bytes, password: bytes = b"") -> bytes:
    return b"".join(read_zip(io.BytesIO(archive), password))


@pytest.mark.parametrize("data", [b"", b"x", DATA])
def test_plain_zip_opens_with_python_zipfile(data: bytes) -> None:
    archive = zipfile.ZipFile(io.BytesIO(make_zip(data)))
    assert archive.namelist() == ["events.jsonl"]
    assert archive.testzip() is None
    assert archive.read("events.jsonl") == data
    assert archive.infolist()[0].compress_type == zipfile.ZIP_DEFLATED


def test_plain_zips_are_byte_identical_for_identical_content() -> None:
    # A resumed export rewrites a chunk: without encryption it must not change.
    assert make_zip(DATA) == make_zip(DATA, step=1234)


def test_aes_zip_round_trips_and_rejects_wrong_password_and_tampering() -> None:
    archive = make_zip(DATA, b"pa55")
    assert DATA[:40] not in archive
    assert unzip(archive, b"pa55") == DATA
    with pytest.raises(ZipFormatError, match="wrong zip password"):
        unzip(archive, b"other")
    with pytest.raises(ZipFormatError, match="password-protected"):
        unzip(archive)
    tampered = bytearray(archive)
    tampered[len(archive) // 2] ^= 0x40
    with pytest.raises(ZipFormatError):
        unzip(bytes(tampered), b"pa55")


def test_plain_zip_damage_is_detected() -> None:
    archive = bytearray(make_zip(DATA))
    archive[len(archive) // 2] ^= 0x01
    with pytest.raises(ZipFormatError):
        unzip(bytes(archive))
    with pytest.raises(ZipFormatError):
        unzip(make_zip(DATA)[:-30])


def test_little_endian_counter_matches_winzip_across_pieces_and_pages() -> None:
    key = os.urandom(32)
    data = os.urandom(1_100_000)  # past the first 1 MiB keystream page
    ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    blocks = -(-len(data) // 16)
    # WinZip: block n is encrypted with counter n + 1 as a 16-byte little-endian integer.
    keystream = ecb.update(b"".join((n + 1).to_bytes(16, "little") for n in range(blocks)))
    expected = bytes(a ^ b for a, b in zip(data, keystream, strict=False))
    split = _LittleEndianCtr(key)
    pieces = [data[i : i + 70_001] for i in range(0, len(data), 70_001)]
    assert b"".join(split.apply(piece) for piece in pieces) == expected
    assert _LittleEndianCtr(key).apply(data) == expected


def test_zip64_central_directory_when_sizes_pass_4_gib() -> None:
    compressor = ZipCompressor(1, 0, entry_name="big.jsonl")
    head = compressor.compress(b"x" * 100)
    compressor._plain_size = LIMIT_32 + 5  # as if 4 GiB had streamed through
    archive = head + compressor.flush()
    info = zipfile.ZipFile(io.BytesIO(archive)).infolist()[0]
    assert info.file_size == LIMIT_32 + 5
    assert read_entry(io.BytesIO(archive)).plain_size == LIMIT_32 + 5
    # The local header always announces Zip64 (sizes unknown while streaming).
    assert struct.unpack_from("<I", archive, 22)[0] == LIMIT_32


def test_7zip_extracts_aes_chunks_with_the_password(tmp_path: Path) -> None:
    seven = need("7z")
    chunk = tmp_path / "part-000000.jsonl.zip"
    chunk.write_bytes(make_zip(DATA, b"s3cret pass"))
    listing = subprocess.run(
        [seven, "l", "-slt", "-ps3cret pass", str(chunk)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "AES-256" in listing.stdout
    out = tmp_path / "out"
    subprocess.run(
        [seven, "x", "-y", "-ps3cret pass", f"-o{out}", str(chunk)], capture_output=True, check=True
    )
    assert (out / "events.jsonl").read_bytes() == DATA
    wrong = subprocess.run(
        [seven, "x", "-y", "-pwrong", f"-o{tmp_path / 'wrong'}", str(chunk)], capture_output=True
    )
    assert wrong.returncode != 0


def test_7zip_tests_plain_chunks_clean(tmp_path: Path) -> None:
    seven = need("7z")
    chunk = tmp_path / "part-000000.jsonl.zip"
    chunk.write_bytes(make_zip(DATA))
    result = subprocess.run([seven, "t", str(chunk)], capture_output=True, text=True)
    assert result.returncode == 0 and "Everything is Ok" in result.stdout
    assert "Warning" not in result.stdout
