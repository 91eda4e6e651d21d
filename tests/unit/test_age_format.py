"""The age v1 format: Bech32 keys, the streaming encryptor, the reader's checks, and
interoperability with the real `age` tool in both directions (recipients and
passphrases; passphrase prompts go through a pseudo-terminal, as age insists)."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import shutil
import subprocess
from pathlib import Path

import pytest

from sluice.format import bech32
from sluice.format.age import SEGMENT_SIZE, AgeFormatError, parse_recipient, recipient_fingerprint
from sluice.format.age_reader import (
    PassphraseIdentity,
    X25519Identity,
    decrypt_stream,
    read_identities,
)
from sluice.server.pipeline.ciphers.age import AgeEncryption

SIZES = [0, 1, SEGMENT_SIZE - 1, SEGMENT_SIZE, SEGMENT_SIZE + 1, 3 * SEGMENT_SIZE, 200_001]
# From the age specification's test keys (age-encryption.org/v1 examples).
KNOWN_RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is not installed (make test-tools installs it)")
        pytest.skip(f"{tool} is not installed")
    return path


def encrypt(data: bytes, encryption: AgeEncryption, step: int = 7777) -> bytes:
    encryptor = encryption.make()
    parts = [encryptor.encrypt(data[i : i + step]) for i in range(0, len(data), step)]
    return b"".join(parts) + encryptor.finish()


def decrypt(sealed: bytes, *identities: object) -> bytes:
    return b"".join(decrypt_stream(io.BytesIO(sealed), list(identities)))  # type: ignore[arg-type]


@pytest.fixture
def identity() -> X25519Identity:
    return X25519Identity(os.urandom(32))


def recipient_of(identity: X25519Identity) -> str:
    return bech32.encode("age", identity.recipient_key)


def identity_text(identity: X25519Identity) -> str:
    return bech32.encode("age-secret-key-", identity.secret).upper() + "\n"


def test_bech32_round_trips_and_detects_damage() -> None:
    hrp, key = bech32.decode(KNOWN_RECIPIENT)
    assert hrp == "age" and len(key) == 32
    assert bech32.encode("age", key) == KNOWN_RECIPIENT
    flipped = KNOWN_RECIPIENT[:-1] + ("q" if KNOWN_RECIPIENT[-1] != "q" else "p")
    with pytest.raises(bech32.Bech32Error, match="checksum"):
        bech32.decode(flipped)
    with pytest.raises(bech32.Bech32Error, match="mixed"):
        bech32.decode("Age1" + KNOWN_RECIPIENT[4:])
    with pytest.raises(bech32.Bech32Error, match="alphabet"):
        bech32.decode(KNOWN_RECIPIENT[:10] + "b" + KNOWN_RECIPIENT[11:])


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("age1abc", "age recipient"),
        ("AGE-SECRET-KEY-1" + "Q" * 58, "age recipient"),
        (bech32.encode("age", b"\x01" * 31), "31 bytes"),
        (bech32.encode("agex", b"\x01" * 32), "age1"),
        (KNOWN_RECIPIENT.upper(), "lowercase"),
    ],
)
def test_invalid_recipients_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(AgeFormatError, match=reason):
        parse_recipient(text)


def test_fingerprint_identifies_without_revealing() -> None:
    fingerprint = recipient_fingerprint(KNOWN_RECIPIENT)
    assert fingerprint.startswith("sha256:") and len(fingerprint) == 7 + 16
    assert KNOWN_RECIPIENT[4:20] not in fingerprint


@pytest.mark.parametrize("size", SIZES)
def test_stream_round_trip_at_segment_edges(size: int, identity: X25519Identity) -> None:
    data = os.urandom(size)
    keys = (parse_recipient(recipient_of(identity)),)
    sealed = encrypt(data, AgeEncryption(recipient_keys=keys))
    assert decrypt(sealed, identity) == data


def test_encryptor_holds_at_most_one_segment(identity: X25519Identity) -> None:
    encryptor = AgeEncryption(recipient_keys=(identity.recipient_key,)).make()
    for size in (10, 5 * SEGMENT_SIZE + 3, SEGMENT_SIZE, 1):
        encryptor.encrypt(os.urandom(size))
        assert len(encryptor._segment) <= SEGMENT_SIZE


def test_wrong_identity_tamper_and_truncation_fail(identity: X25519Identity) -> None:
    sealed = encrypt(os.urandom(150_000), AgeEncryption(recipient_keys=(identity.recipient_key,)))
    with pytest.raises(AgeFormatError, match="no identity matches"):
        decrypt(sealed, X25519Identity(os.urandom(32)))
    flipped = bytearray(sealed)
    flipped[-1000] ^= 1
    with pytest.raises(AgeFormatError, match="failed authentication"):
        decrypt(bytes(flipped), identity)
    with pytest.raises(AgeFormatError):
        decrypt(sealed[: SEGMENT_SIZE + 300], identity)  # cut at a segment boundary region
    header_end = sealed.index(b"\n---") + 1
    # An extra (well-formed, unknown) stanza: only the header MAC can notice it.
    tampered = sealed[:header_end] + b"-> grease\n\n" + sealed[header_end:]
    with pytest.raises(AgeFormatError, match="header authentication"):
        decrypt(tampered, identity)


def test_truncation_at_a_segment_boundary_is_detected(identity: X25519Identity) -> None:
    sealed = encrypt(
        os.urandom(3 * SEGMENT_SIZE), AgeEncryption(recipient_keys=(identity.recipient_key,))
    )
    # Drop the last sealed segment whole: the one before it is not flagged as last.
    with pytest.raises(AgeFormatError, match="segment 1"):
        decrypt(sealed[: -(SEGMENT_SIZE + 16)], identity)


def test_passphrase_round_trip_and_wrong_passphrase() -> None:
    sealed = encrypt(b"secret records\n", AgeEncryption(passphrase=b"pw", scrypt_work_factor=10))
    assert b"-> scrypt " in sealed[:200]
    assert decrypt(sealed, PassphraseIdentity(b"pw")) == b"secret records\n"
    with pytest.raises(AgeFormatError, match="wrong passphrase"):
        decrypt(sealed, PassphraseIdentity(b"nope"))


def test_several_recipients_each_can_decrypt() -> None:
    people = [X25519Identity(os.urandom(32)) for _ in range(3)]
    sealed = encrypt(
        b"x" * 1000, AgeEncryption(recipient_keys=tuple(p.recipient_key for p in people))
    )
    for person in people:
        assert decrypt(sealed, person) == b"x" * 1000


# --- interoperability with the real age tool ---------------------------------------


@pytest.mark.parametrize("size", [0, SEGMENT_SIZE, 200_001])
def test_age_tool_decrypts_what_sluice_encrypts(tmp_path: Path, size: int) -> None:
    age = need("age")
    keygen = need("age-keygen")
    key_file = tmp_path / "key.txt"
    subprocess.run([keygen, "-o", str(key_file)], check=True, capture_output=True)
    recipient = read_identities(key_file.read_text())[0]
    data = os.urandom(size)
    sealed_file = tmp_path / "chunk.age"
    sealed_file.write_bytes(encrypt(data, AgeEncryption(recipient_keys=(recipient.recipient_key,))))
    result = subprocess.run(
        [age, "-d", "-i", str(key_file), str(sealed_file)], capture_output=True, check=True
    )
    assert result.stdout == data


def test_sluice_reads_what_the_age_tool_encrypts(tmp_path: Path, identity: X25519Identity) -> None:
    age = need("age")
    data = os.urandom(150_000)
    plain = tmp_path / "plain"
    plain.write_bytes(data)
    sealed = tmp_path / "plain.age"
    subprocess.run([age, "-r", recipient_of(identity), "-o", str(sealed), str(plain)], check=True)
    identities = read_identities(identity_text(identity))
    assert decrypt(sealed.read_bytes(), *identities) == data


PROMPT = re.compile(rb"(?i)(enter|confirm) passphrase")


def run_on_terminal(argv: list[str], answer: bytes, timeout: float = 30) -> tuple[int, bytes]:
    """Run `argv` with a pseudo-terminal as its controlling terminal (age reads
    passphrases only from a terminal), answering every passphrase prompt."""
    pid, terminal = pty.fork()
    if pid == 0:  # the child: become the tool
        os.execv(argv[0], argv)
    seen = b""
    answered = 0
    try:
        while True:
            ready, _, _ = select.select([terminal], [], [], timeout)
            if not ready:
                break
            try:
                piece = os.read(terminal, 4096)
            except OSError:  # the child closed the terminal
                break
            if not piece:
                break
            seen += piece
            if len(PROMPT.findall(seen)) > answered:
                os.write(terminal, answer + b"\n")
                answered += 1
    finally:
        os.close(terminal)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), seen


def test_age_tool_decrypts_a_sluice_passphrase_file(tmp_path: Path) -> None:
    age = need("age")
    data = os.urandom(70_000)
    sealed = tmp_path / "chunk.age"
    sealed.write_bytes(encrypt(data, AgeEncryption(passphrase=b"tr0ub4dor", scrypt_work_factor=12)))
    out = tmp_path / "out"
    status, _ = run_on_terminal([age, "-d", "-o", str(out), str(sealed)], b"tr0ub4dor")
    assert status == 0 and out.read_bytes() == data
    status, seen = run_on_terminal([age, "-d", "-o", str(tmp_path / "no"), str(sealed)], b"wrong")
    assert status != 0 and b"incorrect passphrase" in seen


def test_sluice_reads_an_age_tool_passphrase_file(tmp_path: Path) -> None:
    age = need("age")
    data = os.urandom(90_000)
    plain = tmp_path / "plain"
    plain.write_bytes(data)
    sealed = tmp_path / "plain.age"
    status, _ = run_on_terminal([age, "-p", "-o", str(sealed), str(plain)], b"from the tool")
    assert status == 0
    assert decrypt(sealed.read_bytes(), PassphraseIdentity(b"from the tool")) == data
