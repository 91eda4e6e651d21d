"""The client as a service that only calls Sluice installs it: the wheel built from this
repository, installed without extras into a fresh venv, has one top-level package
(`sluice`), no Polars, PyArrow, DuckDB or cloud SDKs, and its `sluice` command and Python
client work against a real daemon (run from the repository's own venv): list, get, and
read back JSONL, CSV and age-encrypted exports record for record. The commands that need
an extra say which one."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from packaging.utils import canonicalize_name

from tests.daemon import REPO, Daemon

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

ROWS = 1_800
#: Small chunks: every export spans several, so CSV headers and age streams are joined.
CHUNK_ROWS = 500
#: What a service installing the client must not get.
HEAVY_MODULES = (
    "polars",
    "pyarrow",
    "duckdb",
    "s3fs",
    "adlfs",
    "botocore",
    "azure",
    "zlib_ng",
    "blake3",
    # The daemon's settings and storage profiles: sluice.sinks needs it, the client not.
    "pydantic",
)
_PIP = (sys.executable, "-m", "pip")
#: What the wheel is built from (copied, so no build/ folder is left in the repository).
_SOURCES = ("pyproject.toml", "README.md", "proto", "server", "client", "sinks")


@dataclass(frozen=True)
class Venv:
    root: Path
    work: Path

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`args[0]` from the venv's bin folder, in a folder outside the repository, with
        nothing of the repository's environment on the import path."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SLUICE_", "PYTHON")) and k != "VIRTUAL_ENV"
        }
        return subprocess.run(
            [str(self.root / "bin" / args[0]), *args[1:]],
            cwd=self.work,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-2000:])
        return result.stdout


def _check(command: list[str]) -> None:
    # Generous: installing resolves the client's dependencies from the package index.
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, (command, result.stderr[-3000:])


def _build_wheel(target: Path) -> Path:
    source, dist = target / "source", target / "dist"
    source.mkdir()
    for name in _SOURCES:
        origin = REPO / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, source / name)
    # No build isolation: the repository's venv has setuptools, and fetching it again
    # for a throwaway environment would only cost time.
    _check(
        [*_PIP, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source)]
    )
    (wheel,) = dist.glob("sluice-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    root = tmp_path_factory.mktemp("venv") / "client"
    work = tmp_path_factory.mktemp("work")
    _check([sys.executable, "-m", "venv", "--without-pip", str(root)])
    # This venv's pip installs into the new one (no pip bootstrapped there), without
    # compiling bytecode: both only save time. The lock holds the versions, as for every
    # environment; it pins the daemon's packages too, and none of them may come along.
    _check(
        [*_PIP, "--python", str(root / "bin/python"), "install", "-q", "--no-compile",
         "-c", str(REPO / "constraints.txt"), str(wheel)]
    )  # fmt: skip
    return Venv(root, work)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    daemon = Daemon(root=tmp_path_factory.mktemp("daemon"), settings={"batch_rows": 256})
    daemon.start()
    yield daemon
    daemon.stop(timeout=20)


def _source_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": list(range(ROWS)),
            # Commas, quotes and newlines: CSV must quote them, and chunks join exactly.
            "text": [
                f'row {i}, "quoted"\nsecond line' if i % 7 == 0 else f"row {i}" for i in range(ROWS)
            ],
            "amount": [i / 4 for i in range(ROWS)],
        }
    )


def test_the_wheel_has_one_top_level_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        requires = [
            line.removeprefix("Requires-Dist: ")
            for line in archive.read(metadata).decode().splitlines()
            if line.startswith("Requires-Dist: ")
        ]
    code = [n for n in names if not n.split("/")[0].endswith(".dist-info")]
    assert {n.split("/")[0] for n in code} == {"sluice"}
    assert all(n.startswith("sluice/") for n in code if n.endswith(".py"))
    assert "sluice/client/__init__.py" in code and "sluice/v1/export_pb2.py" in code
    # Without extras: no requirement of the daemon's libraries.
    base = [r for r in requires if "extra ==" not in r]
    heavy = {"polars", "pyarrow", "duckdb", "s3fs", "adlfs", "botocore", "zlib-ng", "pydantic"}
    assert not [r for r in base if r.split(">")[0].split("=")[0].strip() in heavy], base


def test_the_client_install_has_no_daemon_libraries(venv: Venv) -> None:
    found = venv.ok(
        "python",
        "-c",
        "import importlib.util, sys; "
        f"print(' '.join(m for m in {HEAVY_MODULES!r} if importlib.util.find_spec(m)))",
    )
    assert found.strip() == ""
    # The client itself imports, from the venv and not from the repository.
    where = venv.ok("python", "-c", "import sluice.client; print(sluice.client.__file__)")
    assert where.strip().startswith(str(venv.root))


def test_the_client_install_takes_the_locks_versions(venv: Venv) -> None:
    listed = venv.ok(
        "python",
        "-c",
        "import importlib.metadata as m; "
        "print('\\n'.join(f\"{d.metadata['Name']}=={d.version}\" for d in m.distributions()))",
    )
    installed = {
        canonicalize_name(name): version
        for name, version in (line.split("==") for line in listed.split())
        if canonicalize_name(name) != "sluice"
    }
    pins = {
        canonicalize_name(name): version
        for name, version in (
            line.split(" ")[0].split("==")
            for line in (REPO / "constraints.txt").read_text().splitlines()
            if line[:1].isalnum()
        )
    }
    assert {"grpcio", "protobuf", "cryptography"} <= installed.keys()
    apart = {n: (v, pins.get(n)) for n, v in installed.items() if pins.get(n) != v}
    assert not apart, apart


def test_the_daemon_commands_name_the_server_extra(venv: Venv) -> None:
    for command in ("serve", "demo"):
        result = venv.run("sluice", command, "--state-dir", str(venv.work / "state"))
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(f"sluice: error: `sluice {command}` needs the server extra")
        assert lines[0].endswith("pip install 'sluice[server]'")
    assert not (venv.work / "state").exists()


def test_the_client_install_refuses_a_key_in_a_uri_unrepeated(venv: Venv) -> None:
    """The installed CLI checks a cloud manifest URI with sluice.cloud_uris (no pydantic,
    no storage package): a key pasted into it (as user-info, in place of the bucket, in
    a chained `simplecache::` URL, in a query or fragment) is refused in one line that
    does not repeat it, before any server or storage is reached (the --server here
    listens nowhere)."""
    key, secret = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"
    manifest = "x/20261207T000000Z-000000000000/manifest.json"
    for uri in (
        f"s3://{key}:{secret}@bucket/{manifest}",
        f"az://{secret}@container/{manifest}",
        f"s3://{key}+wJalr/{manifest}",
        f"s3://{key}:wJalr/{manifest}",
        f"simplecache::s3://{key}:{secret}@bucket/{manifest}",
        f"simplecache::s3://{key}/{manifest}",
        f"filecache::s3://{key}/{manifest}",
        f"s3://bucket/y::az://{key}/{manifest}",
        f"s3://bucket/{manifest}?X-Amz-Signature={secret}",
        f"s3://bucket/{manifest}#{secret}",
    ):
        for command in ("read", "manifest", "verify", "delete"):
            result = venv.run("sluice", "--server", "127.0.0.1:9", "export", command, uri)
            lines = result.stderr.strip().splitlines()
            assert result.returncode == 1 and len(lines) == 1, (command, uri, result.stderr)
            assert lines[0].startswith("sluice: error: "), (command, uri, lines)
            assert "cannot reach" not in lines[0], (command, uri, lines)
            for piece in (key, "wJalr", "EXAMPLEKEY"):
                assert piece not in result.stdout + result.stderr, (command, uri, lines)
    # A key in place of the bucket, made of the characters legacy bucket names hold,
    # cannot be told from one (`s3://Legacy_Bucket/...`, which the client reads): it is
    # taken as one, and never shown.
    shown = venv.run("sluice", "export", "manifest", f"s3://{key}/{manifest}")
    assert shown.stderr == (
        f"sluice: error: manifest s3://(bucket not repeated)/{manifest} is not on local "
        "storage; download it and pass the file path\n"
    ), shown.stderr
    rules = venv.ok(
        "python",
        "-c",
        "import sys, sluice.cloud_uris as u; "
        f"print(u.without_secrets('s3://{key}:{secret}@bucket/{manifest}')); "
        "print(sorted(m for m in ('pydantic', 'sluice.sinks') if m in sys.modules))",
    )
    assert rules.splitlines() == [f"s3://(credentials removed)@bucket/{manifest}", "[]"]


_CLIENT_SCRIPT = """
import json, sys
from sluice.client import ExportClient

address, source, exports, recipient, chunk_rows = sys.argv[1:6]
made = {}
with ExportClient(address) as sluice:
    for name, options in {
        "jsonl": {"format": "jsonl", "compression": "zstd"},
        "csv": {"format": "csv", "compression": "zip"},
        "age": {"format": "jsonl", "compression": "gzip", "encrypt_to": [recipient]},
    }.items():
        spec = ExportClient.build_spec(
            source=source, to=exports, dataset=name, chunk_rows=int(chunk_rows), **options
        )
        created = sluice.create(spec)
        sluice.wait(created.id, timeout=120)
        again = sluice.get(created.id)
        made[name] = {
            "id": again.id,
            "records": again.progress.records,
            "chunks": again.progress.chunks,
            "manifest_uri": again.manifest_uri,
        }
print(json.dumps(made))
"""


def test_the_client_install_exports_and_reads_back(
    venv: Venv, server: Daemon, tmp_path: Path
) -> None:
    frame = _source_frame()
    source = server.sources / "rows.parquet"
    frame.write_parquet(source)
    identity = venv.work / "keys" / "identity.txt"
    recipient = venv.ok("sluice", "keygen", "-o", str(identity)).strip()
    assert recipient.startswith("age1")

    # The Python client: CreateExport, wait, get.
    script = tmp_path / "client.py"
    script.write_text(textwrap.dedent(_CLIENT_SCRIPT))
    made: dict[str, dict[str, Any]] = json.loads(
        venv.ok(
            "python",
            str(script),
            *(server.address, str(source), str(server.exports), recipient, str(CHUNK_ROWS)),
        )
    )
    for name, export in made.items():
        assert export["records"] == ROWS, (name, export)
        assert export["chunks"] > 1, (name, export)

    # The CLI: list and get.
    cli = ("sluice", "--server", server.address)
    listed = json.loads(venv.ok(*cli, "export", "list", "--json"))
    assert {e["id"] for e in listed} >= {e["id"] for e in made.values()}
    got = json.loads(venv.ok(*cli, "export", "get", made["csv"]["id"], "--json"))
    assert (got["state"], got["records"]) == ("succeeded", ROWS)

    # The CLI: read back, by id, by manifest path and by folder.
    expected = frame.to_dicts()
    jsonl = venv.ok(*cli, "export", "read", made["jsonl"]["id"])
    assert [json.loads(line) for line in jsonl.splitlines()] == expected

    csv_manifest = made["csv"]["manifest_uri"].removeprefix("file://")
    out = venv.work / "rows.csv"
    venv.ok(*cli, "export", "read", csv_manifest, "-o", str(out))
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [
        {"id": int(r["id"]), "text": r["text"], "amount": float(r["amount"])} for r in rows
    ] == expected
    # Read as CSV, a CSV export passes through: its chunks' bytes under one header.
    assert out.read_bytes() == _joined_csv_chunks(Path(csv_manifest))

    age_folder = str(Path(made["age"]["manifest_uri"].removeprefix("file://")).parent)
    age = venv.ok(*cli, "export", "read", age_folder, "--identity", str(identity))
    assert [json.loads(line) for line in age.splitlines()] == expected
    refused = venv.run(*cli, "export", "read", age_folder)
    assert refused.returncode == 1 and "--identity" in refused.stderr, refused.stderr

    # Converting formats needs the read extra; reading from S3 the cloud extra.
    for args, extra in (
        ((csv_manifest, "--format", "parquet"), "read"),
        ((made["jsonl"]["id"], "--format", "csv"), "read"),
        (("s3://bucket/exports/rows/manifest.json",), "cloud"),
    ):
        result = venv.run(*cli, "export", "read", *args)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1 and len(lines) == 1, (args, result.stderr)
        assert lines[0].endswith(f"pip install 'sluice[{extra}]'"), (args, lines)
        assert not result.stdout, args


def _joined_csv_chunks(manifest_path: Path) -> bytes:
    manifest = json.loads(manifest_path.read_text())
    pieces = []
    for chunk in manifest["chunks"]:
        with zipfile.ZipFile(manifest_path.parent / chunk["path"]) as archive:
            (entry,) = archive.namelist()
            pieces.append(archive.read(entry))
    header_end = pieces[0].index(b"\n") + 1
    assert all(p[:header_end] == pieces[0][:header_end] for p in pieces)
    return pieces[0] + b"".join(p[header_end:] for p in pieces[1:])
