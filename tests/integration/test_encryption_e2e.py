"""Encryption end to end through a real daemon: age chunks the real `age` tool opens,
AES zip chunks 7-Zip opens, signed manifests whose key GetServerInfo publishes, and
`sluice export read` refusing every kind of tampering without emitting its records."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import stat
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import zstandard
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sluice.client import ExportClient, InvalidArgumentError
from sluice.client.demo_data import generate
from sluice.format.temporal_text import temporal_as_text
from tests.daemon import Daemon, run_cli
from tests.integration.helpers import manifest_path
from tests.unit.test_age_format import need, run_on_terminal

pytestmark = pytest.mark.integration
ROWS = 12_000
PASSPHRASE = "a long passphrase for people"
ZIP_PASSWORD = "zip pass 123"


class TomlTable(dict[str, str]):
    """Renders as a TOML inline table where tests.daemon writes settings with str()."""

    def __str__(self) -> str:
        return "{ " + ", ".join(f'{k} = "{v}"' for k, v in self.items()) + " }"


class World:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / "pp").write_text(PASSPHRASE + "\n")
        (root / "zip").write_text(ZIP_PASSWORD + "\n")
        self.signing_key = Ed25519PrivateKey.generate()
        (root / "signing.pem").write_bytes(
            self.signing_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.daemon = Daemon(
            root=root / "daemon",
            settings={
                "batch_rows": 2048,
                "age_scrypt_work_factor": 10,
                "secrets": TomlTable(pp=f"file:{root / 'pp'}", zip=f"file:{root / 'zip'}"),
                "manifest_signing_key": f"file:{root / 'signing.pem'}",
            },
        )
        self.daemon.start()
        self.source = generate(self.daemon.sources / "events.parquet", ROWS, seed=5)
        self.key_file = root / "identity.txt"
        self.recipient = sluice(self.daemon, "keygen", "-o", str(self.key_file)).stdout.strip()

    def export(self, **options: Any) -> Path:
        with ExportClient(self.daemon.address) as client:
            spec = ExportClient.build_spec(
                source=str(self.source),
                to=str(self.daemon.exports),
                dataset="events",
                chunk_bytes=256 * 1024,
                **options,
            )
            finished = client.wait(client.create(spec).id, timeout=120)
        return manifest_path(finished.manifest_uri)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    made = World(tmp_path_factory.mktemp("encryption"))
    yield made
    made.daemon.stop(timeout=20)


@pytest.fixture(scope="module")
def age_export(world: World) -> Path:
    return world.export(encrypt_to=[world.recipient])


def sluice(
    daemon: Daemon, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli(daemon, *args, env=env)


def read(
    world: World, manifest: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return sluice(world.daemon, "export", "read", str(manifest), *args, env=env)


def failure(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sluice: error: "), result.stderr
    return lines[0]


def expected_records(world: World) -> pl.DataFrame:
    """The source as the JSON Lines export writes it (dates and times as RFC 3339 text)."""
    source = temporal_as_text(pl.read_parquet(world.source))
    return pl.read_ndjson(io.BytesIO(source.write_ndjson().encode()))


def copy_export(manifest: Path, target: Path) -> Path:
    shutil.copytree(manifest.parent, target)
    return target / "manifest.json"


# --- age ----------------------------------------------------------------------------


def test_age_chunks_open_with_the_age_tool(world: World, age_export: Path) -> None:
    age = need("age")
    manifest = json.loads(age_export.read_text())
    assert manifest["output"]["encryption"]["scheme"] == "age"
    assert manifest["output"]["encryption"]["passphrase"] is False
    assert len(manifest["output"]["encryption"]["recipients"]) == 1
    assert world.recipient not in age_export.read_text()
    assert len(manifest["chunks"]) > 3
    plaintext = b""
    for chunk in manifest["chunks"]:
        assert chunk["path"].endswith(".jsonl.zst.age")
        decrypted = subprocess.run(
            [age, "-d", "-i", str(world.key_file), str(age_export.parent / chunk["path"])],
            capture_output=True,
            check=True,
        ).stdout
        plaintext += zstandard.ZstdDecompressor().decompressobj().decompress(decrypted)
    assert pl.read_ndjson(io.BytesIO(plaintext)).equals(expected_records(world))


def test_read_back_verifies_signature_and_streams_records(world: World, age_export: Path) -> None:
    assert (age_export.parent / "manifest.json.sig").exists()
    result = read(world, age_export, "--identity", str(world.key_file))
    assert result.returncode == 0, result.stderr
    assert pl.read_ndjson(io.BytesIO(result.stdout.encode())).equals(expected_records(world))
    csv_out = world.root / "out.csv"
    result = read(
        world, age_export, "-i", str(world.key_file), "--format", "csv", "-o", str(csv_out)
    )
    assert result.returncode == 0, result.stderr
    assert pl.read_csv(csv_out).height == ROWS
    parquet_out = world.root / "out.parquet"
    result = read(
        world, age_export, "-i", str(world.key_file), "--format", "parquet", "-o", str(parquet_out)
    )
    assert result.returncode == 0, result.stderr
    assert pl.read_parquet(parquet_out).height == ROWS


def test_signature_verifies_with_openssl_and_server_info_key(
    world: World, age_export: Path
) -> None:
    with ExportClient(world.daemon.address) as client:
        info = client.server_info()
    public_pem = world.signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert info.manifest_signing_public_key.encode() == public_pem
    assert {"zip", "zstd"} <= set(info.compressions) and "age" in info.encryption_schemes
    signature = json.loads((age_export.parent / "manifest.json.sig").read_text())
    raw = base64.b64decode(signature["signature"])
    world.signing_key.public_key().verify(raw, age_export.read_bytes())


def test_tampering_is_detected_and_nothing_of_the_bad_chunk_is_emitted(
    world: World, age_export: Path, tmp_path: Path
) -> None:
    chunks = json.loads(age_export.read_text())["chunks"]
    first_chunk_records = chunks[0]["records"]

    flipped = copy_export(age_export, tmp_path / "flipped")
    path = flipped.parent / chunks[1]["path"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    result = read(world, flipped, "-i", str(world.key_file))
    assert "chunk 1" in failure(result) and "sha256" in result.stderr
    # Chunk 0 was verified and written; not a single line of chunk 1 was.
    assert result.stdout.count("\n") == first_chunk_records

    truncated = copy_export(age_export, tmp_path / "truncated")
    path = truncated.parent / chunks[2]["path"]
    path.write_bytes(path.read_bytes()[:-100])
    assert "chunk 2" in failure(
        read(world, truncated, "-i", str(world.key_file), "-o", str(tmp_path / "t.jsonl"))
    )
    assert not (tmp_path / "t.jsonl").exists()  # a file output appears only on success

    swapped = copy_export(age_export, tmp_path / "swapped")
    first, second = (swapped.parent / chunks[i]["path"] for i in (0, 1))
    first_bytes = first.read_bytes()
    first.write_bytes(second.read_bytes())
    second.write_bytes(first_bytes)
    result = read(world, swapped, "-i", str(world.key_file))
    assert "chunk 0" in failure(result) and result.stdout == ""

    edited = copy_export(age_export, tmp_path / "edited")
    text = edited.read_text().replace('"records": ' + str(ROWS), '"records": ' + str(ROWS + 1), 1)
    edited.write_text(text)
    assert "signature" in failure(read(world, edited, "-i", str(world.key_file)))


def test_wrong_keys_and_missing_signatures_fail(
    world: World, age_export: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.txt"
    sluice(world.daemon, "keygen", "-o", str(other))
    result = read(world, age_export, "-i", str(other))
    assert "chunk 0" in failure(result) and "wrong key" in result.stderr and result.stdout == ""
    unkeyed = failure(read(world, age_export))
    assert "give --identity FILE" in unkeyed and "--passphrase-env VAR" in unkeyed

    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert "signed by key" in failure(
        read(world, age_export, "-i", str(world.key_file), "--public-key", str(stranger))
    )

    unsigned = copy_export(age_export, tmp_path / "unsigned")
    (unsigned.parent / "manifest.json.sig").unlink()
    own_key = tmp_path / "own.pem"
    own_key.write_text(
        sluice(world.daemon, "keygen", "--signing", "-o", str(tmp_path / "k")).stdout
    )
    assert "not signed" in failure(
        read(world, unsigned, "-i", str(world.key_file), "--public-key", str(own_key))
    )
    # Unsigned, an edited record count is still caught, before that chunk is emitted.
    document = json.loads(unsigned.read_text())
    document["chunks"][1]["records"] += 1
    unsigned.write_text(json.dumps(document))
    result = read(world, unsigned, "-i", str(world.key_file), "--allow-unsigned")
    assert "chunk 1" in failure(result) and "the manifest says" in result.stderr
    assert result.stdout.count("\n") == document["chunks"][0]["records"]


def test_keygen_identity_is_private_and_works_with_age(world: World, tmp_path: Path) -> None:
    age = need("age")
    assert stat.S_IMODE(world.key_file.stat().st_mode) == 0o600
    plain = tmp_path / "plain"
    plain.write_bytes(b"hello")
    subprocess.run(
        [age, "-r", world.recipient, "-o", str(tmp_path / "x.age"), str(plain)], check=True
    )
    opened = subprocess.run(
        [age, "-d", "-i", str(world.key_file), str(tmp_path / "x.age")],
        capture_output=True,
        check=True,
    )
    assert opened.stdout == b"hello"
    assert "already exists" in failure(sluice(world.daemon, "keygen", "-o", str(world.key_file)))


def test_passphrase_export_via_cli_flags(world: World, tmp_path: Path) -> None:
    created = sluice(
        world.daemon,
        *f"export create --source {world.source} --to {world.daemon.exports}".split(),
        *["--dataset", "events", "--chunk-bytes", "512KiB", "--passphrase-secret", "pp"],
        *["--wait", "--json"],
    )
    assert created.returncode == 0, created.stderr
    manifest = manifest_path(json.loads(created.stdout)["manifest_uri"])
    assert json.loads(manifest.read_text())["output"]["encryption"]["passphrase"] is True
    result = read(world, manifest, "--passphrase-env", "PP", env={"PP": PASSPHRASE})
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == ROWS
    assert "wrong passphrase" in failure(
        read(world, manifest, "--passphrase-env", "PP", env={"PP": "nope"})
    )
    assert "give --passphrase-env VAR" in failure(read(world, manifest))
    age = need("age")
    first = manifest.parent / json.loads(manifest.read_text())["chunks"][0]["path"]
    status, _ = run_on_terminal(
        [age, "-d", "-o", str(tmp_path / "c0"), str(first)], PASSPHRASE.encode()
    )
    assert status == 0 and zstandard.ZstdDecompressor().decompressobj().decompress(
        (tmp_path / "c0").read_bytes()
    )


# --- zip --------------------------------------------------------------------------------


def test_aes_zip_chunks_open_with_7zip_and_read_back(world: World, tmp_path: Path) -> None:
    seven = need("7z")
    manifest = world.export(compression="zip", zip_password_secret="zip")
    document = json.loads(manifest.read_text())
    assert document["output"]["encryption"] == {
        "scheme": "zip-aes-256",
        "recipients": [],
        "passphrase": True,
    }
    # Every chunk unzipped into one folder, as a person would: each entry is named after
    # its chunk, so none overwrites another.
    out = tmp_path / "unzipped"
    for chunk in document["chunks"]:
        assert chunk["path"].endswith(".jsonl.zip")
        subprocess.run(
            [
                seven,
                "x",
                "-y",
                f"-p{ZIP_PASSWORD}",
                f"-o{out}",
                str(manifest.parent / chunk["path"]),
            ],
            capture_output=True,
            check=True,
        )
    entries = sorted(path.name for path in out.iterdir())
    assert len(document["chunks"]) > 1
    assert entries == sorted(c["path"].removesuffix(".zip") for c in document["chunks"])
    assert sum((out / name).read_bytes().count(b"\n") for name in entries) == ROWS
    result = read(world, manifest, "--passphrase-env", "ZP", env={"ZP": ZIP_PASSWORD})
    assert result.returncode == 0, result.stderr
    assert pl.read_ndjson(io.BytesIO(result.stdout.encode())).equals(expected_records(world))
    assert "wrong zip password" in failure(
        read(world, manifest, "--passphrase-env", "ZP", env={"ZP": "x"})
    )
    # Without a password, the error names the option that gives one.
    assert "give --passphrase-env VAR" in failure(read(world, manifest))


def test_plain_zip_chunks_open_with_python_zipfile(world: World) -> None:
    manifest = world.export(compression="zip", format="csv")
    document = json.loads(manifest.read_text())
    total = 0
    for chunk in document["chunks"]:
        stored = (manifest.parent / chunk["path"]).read_bytes()
        assert hashlib.sha256(stored).hexdigest() == chunk["sha256"]
        with zipfile.ZipFile(io.BytesIO(stored)) as archive:
            (entry,) = archive.namelist()
            assert entry == chunk["path"].removesuffix(".zip")  # part-00000N.csv
            total += pl.read_csv(archive.read(entry)).height
    assert total == ROWS
    # Unencrypted exports read back too (signature still checked, against the server's key).
    result = read(world, manifest, "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert pl.read_csv(io.BytesIO(result.stdout.encode())).height == ROWS


# --- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"encrypt_to": ["age1notakey"]}, "spec.encryption.age_recipients[0]"),
        ({"passphrase_secret": "nope"}, "spec.encryption.age_passphrase_ref"),
        ({"passphrase_secret": "env:HOME"}, "spec.encryption.age_passphrase_ref"),
        ({"zip_password_secret": "zip"}, "spec.encryption.zip_password_ref"),
        ({"compression": "zip", "format": "parquet"}, "spec.output.compression"),
    ],
)
def test_bad_encryption_requests_are_invalid_argument(
    world: World, options: dict[str, Any], field: str
) -> None:
    with ExportClient(world.daemon.address) as client:
        spec = ExportClient.build_spec(
            source=str(world.source), to=str(world.daemon.exports), dataset="e", **options
        )
        with pytest.raises(InvalidArgumentError) as raised:
            client.create(spec)
    assert [v.field for v in raised.value.violations] == [field]


def test_cli_flag_conflict_is_a_usage_error(world: World) -> None:
    result = sluice(
        world.daemon,
        *["export", "create", "--source", "x", "--to", "y", "--dataset", "d"],
        *["--passphrase-secret", "pp", "--passphrase-env", "PP"],
    )
    assert result.returncode == 2 and "not both" in result.stderr
