"""`sluice auth hash-token` hashes only tokens the client can send: a token with a space
inside, a second line or bytes that are not UTF-8 got a digest for token_sha256, and
then every call with it was refused by the client itself ("the token must be one line
of printable characters without spaces"), far from where the mistake was made."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from tests.daemon import REPO


def _hash_token(data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "sluice.client.cli.main", "auth", "hash-token"],
        cwd=REPO,
        input=data,
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "token",
    [b"two words", b"line-one\nline-two", b"tab\tinside", b"\xff\xfenot-utf8", b"bell\x07"],
)
def test_a_token_the_client_would_refuse_gets_no_digest(token: bytes) -> None:
    done = _hash_token(token + b"\n")
    assert done.returncode != 0 and done.stdout == b"", done
    error = done.stderr.decode()
    assert error.count("\n") == 1 and "one line of printable characters" in error, error
    for piece in (b"two", b"words", b"line-one", b"not-utf8", b"bell"):
        if piece in token:
            assert piece.decode() not in error  # a credential is never echoed


def test_a_token_the_client_sends_gets_its_digest() -> None:
    token = "s3cr3t-T0ken_with.punctuation~+/="
    done = _hash_token(token.encode() + b"\r\n")
    assert done.returncode == 0, done
    assert done.stdout.decode().strip() == hashlib.sha256(token.encode()).hexdigest()
