"""Regenerate the Python code for the Sluice API from proto/sluice/v1/*.proto.

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
PACKAGE_DIR = PROTO_ROOT / "sluice" / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def generate(out_dir: Path) -> list[Path]:
    """Run protoc over every .proto file, writing generated modules under out_dir."""
    sources = sorted(PACKAGE_DIR.glob("*.proto"))
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
    generated = out_dir / "sluice" / "v1"
    return sorted(p for p in generated.iterdir() if p.name.endswith(GENERATED_SUFFIXES))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed code is stale")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        if args.check:
            committed = sorted(
                p for p in PACKAGE_DIR.iterdir() if p.name.endswith(GENERATED_SUFFIXES)
            )
            stale = [
                p.name
                for p in fresh
                if not (PACKAGE_DIR / p.name).exists()
                or not filecmp.cmp(p, PACKAGE_DIR / p.name, shallow=False)
            ]
            extra = sorted({p.name for p in committed} - {p.name for p in fresh})
            if stale or extra:
                print(f"generated code is stale: {', '.join(stale + extra)}; run `make proto`")
                return 1
            print("generated code is fresh")
            return 0
        for path in fresh:
            shutil.copyfile(path, PACKAGE_DIR / path.name)
            print(f"wrote {(PACKAGE_DIR / path.name).relative_to(PROTO_ROOT.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
