"""The committed generated API code matches its .proto sources, and the check that says so
really notices when they drift apart."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROTO = REPO / "proto"


def _check(generate_script: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(generate_script), "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_committed_generated_code_is_fresh() -> None:
    result = _check(PROTO / "generate.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fresh" in result.stdout


@pytest.fixture
def proto_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "proto"
    shutil.copytree(PROTO, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_a_copy_is_fresh_until_its_proto_changes(proto_copy: Path) -> None:
    # The script works on the folder it lives in, so an untouched copy is fresh too...
    assert _check(proto_copy / "generate.py").returncode == 0

    # ...and an edited .proto makes the committed code stale.
    source = proto_copy / "sluice" / "v1" / "export.proto"
    source.write_text(source.read_text() + "\nmessage FreshnessProbe {\n  string probe = 1;\n}\n")
    result = _check(proto_copy / "generate.py")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "stale" in result.stdout
    assert "export_pb2.py" in result.stdout
    # The check never rewrites committed files.
    assert (proto_copy / "sluice" / "v1" / "export_pb2.py").read_bytes() == (
        PROTO / "sluice" / "v1" / "export_pb2.py"
    ).read_bytes()


def test_a_missing_or_stray_generated_file_is_stale(proto_copy: Path) -> None:
    package = proto_copy / "sluice" / "v1"
    (package / "export_pb2_grpc.pyi").unlink()
    result = _check(proto_copy / "generate.py")
    assert result.returncode == 1
    assert "export_pb2_grpc.pyi" in result.stdout

    shutil.copytree(PROTO, proto_copy, dirs_exist_ok=True)
    (package / "old_pb2.py").write_text("# left over from a removed .proto\n")
    result = _check(proto_copy / "generate.py")
    assert result.returncode == 1
    assert "old_pb2.py" in result.stdout


def test_the_flight_protocol_is_checked_too(proto_copy: Path) -> None:
    source = proto_copy / "sluice" / "flight" / "Flight.proto"
    source.write_text(source.read_text() + "\nmessage FreshnessProbe {\n  string probe = 1;\n}\n")
    result = _check(proto_copy / "generate.py")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Flight_pb2.py" in result.stdout
