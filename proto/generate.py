"""Regenerate the Python code for the Sluice API from proto/sluice/v1/*.proto, and for
Arrow Flight from proto/sluice/flight/Flight.proto (apache/arrow's format/Flight.proto,
verbatim; its proto package stays arrow.flight.protocol, imported as sluice.flight).

Run with `make proto` (or `python proto/generate.py`). `--check` regenerates into a
temporary folder and exits non-zero when the committed files differ, which CI runs.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
PACKAGE_DIRS = (PROTO_ROOT / "sluice" / "v1", PROTO_ROOT / "sluice" / "flight")
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def generate(out_dir: Path) -> list[Path]:
    """Run protoc over every .proto file, writing generated modules under out_dir."""
    sources = sorted(source for folder in PACKAGE_DIRS for source in folder.glob("*.proto"))
    bin_dir = Path(sys.executable).parent
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"--proto_path={PROTO_ROOT}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *[str(source.relative_to(PROTO_ROOT)) for source in sources],
    ]
    subprocess.run(command, check=True, cwd=PROTO_ROOT)
    return sorted(
        path
        for folder in PACKAGE_DIRS
        for path in (out_dir / folder.relative_to(PROTO_ROOT)).iterdir()
        if path.name.endswith(GENERATED_SUFFIXES)
    )


def _committed_path(generated: Path, out_dir: Path) -> Path:
    """Where a file generated under out_dir is committed."""
    return PROTO_ROOT / generated.relative_to(out_dir)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed code is stale")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(tmp)
        fresh = generate(out_dir)
        if args.check:
            committed = sorted(
                p
                for folder in PACKAGE_DIRS
                for p in folder.iterdir()
                if p.name.endswith(GENERATED_SUFFIXES)
            )
            stale = [
                p.name
                for p in fresh
                if not _committed_path(p, out_dir).exists()
                or not filecmp.cmp(p, _committed_path(p, out_dir), shallow=False)
            ]
            fresh_paths = {_committed_path(p, out_dir) for p in fresh}
            extra = sorted(p.name for p in committed if p not in fresh_paths)
            if stale or extra:
                print(f"generated code is stale: {', '.join(stale + extra)}; run `make proto`")
                return 1
            print("generated code is fresh")
            return 0
        for path in fresh:
            target = _committed_path(path, out_dir)
            shutil.copyfile(path, target)
            print(f"wrote {target.relative_to(PROTO_ROOT.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
