"""CPU of reading an NDJSON source with and without the check for fields its columns lack
(server/pipeline/ndjson_fields: a field first seen past the 100 lines the schema is
inferred from fails the export rather than being left out).

Each case reads one file through read_batches, as an export's reader thread does
(`time.process_time` of a child process: the reader is its only busy thread), for two
files: "flat" (8 scalar fields) and "nested" (a struct of 3 fields with a list in it, and
a list of numbers). "unchecked" chooses the scalar columns (nothing to check); "checked"
takes every column (every line checked, the struct's fields too where the code does).
Run it for several trees of the code (a PYTHONPATH each: before/after a change) in one
run: cases alternate within a round, so a busy machine slows all of them alike.

    PYTHONPATH=... .venv/bin/python -m benchmarks.ndjson_field_check_cpu \\
        --code before=/tmp/main-pp --code after=/tmp/wt-pp [--rows 300000] [--rounds 3]

Writes benchmarks/results/ndjson_field_check_cpu.md (every round listed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

RESULT = Path(__file__).parent / "results" / "ndjson_field_check_cpu.md"
SCALARS = ["id", "name", "amount", "ok", "day", "note"]
#: The child: reads the file once uncounted (imports, first-call costs), then once
#: counted, and prints the CPU seconds and rows read.
_CHILD = """
import sys, time
from pathlib import Path
from sluice.server.pipeline.reader import read_batches
from sluice.server.pipeline.source import read_schema, resolve_source
path, every = Path(sys.argv[1]), sys.argv[2] == "checked"
source = resolve_source(str(path), "", [path.parent])
schema = read_schema(source)
columns = [n for n in schema if not n.startswith("__sluice")] if every else {scalars!r}
def run():
    rows = 0
    for frame in read_batches(source, schema, columns, 65_536, every_column=every):
        rows += frame.height
    return rows
run()
start = time.process_time()
rows = run()
print(time.process_time() - start, rows)
"""


def _write(path: Path, rows: int, nested: bool) -> None:
    with path.open("w") as out:
        for i in range(rows):
            record: dict[str, object] = {
                "id": i,
                "name": f"name-{i}",
                "amount": i * 0.25,
                "ok": i % 3 == 0,
                "day": "2024-05-01",
                "note": "lorem ipsum dolor sit amet " * 2,
            }
            if nested:
                record["user"] = {"id": i, "city": "Berlin", "tags": ["a", "b"]}
                record["scores"] = [i, i + 1, i + 2]
            else:
                record.update(n1=i * 7, n2=f"v{i % 100}")
            out.write(json.dumps(record) + "\n")


def _cpu(pythonpath: str, path: Path, mode: str) -> tuple[float, int]:
    child = _CHILD.replace("{scalars!r}", repr(SCALARS))
    env = {**os.environ, "PYTHONPATH": pythonpath}
    out = subprocess.run(
        [sys.executable, "-c", child, str(path), mode],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return float(out[0]), int(out[1])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--code",
        action="append",
        default=[],
        help="LABEL=PYTHONPATH of a tree to measure (default: this one, 'current')",
    )
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args(argv)
    trees = [tuple(c.split("=", 1)) for c in args.code] or [
        ("current", os.environ.get("PYTHONPATH", ""))
    ]
    runs: dict[tuple[str, str, str], list[float]] = {}
    listed: list[tuple[int, str, str, str, float]] = []
    with tempfile.TemporaryDirectory() as folder:
        files = {}
        for dataset in ("flat", "nested"):
            files[dataset] = Path(folder) / f"{dataset}.ndjson"
            _write(files[dataset], args.rows, dataset == "nested")
        for round_ in range(1, args.rounds + 1):
            for dataset, path in files.items():
                for mode in ("unchecked", "checked"):
                    for label, pythonpath in trees:
                        seconds, rows = _cpu(pythonpath, path, mode)
                        assert rows == args.rows, (label, dataset, mode, rows)
                        runs.setdefault((dataset, mode, label), []).append(seconds)
                        listed.append((round_, dataset, mode, label, seconds))
                        print(round_, dataset, mode, label, f"{seconds:.3f}", flush=True)
        sizes = {d: p.stat().st_size / 2**20 for d, p in files.items()}
    lines = [
        "# NDJSON field check: reader CPU",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}; {args.rows:,} rows "
        f"(flat {sizes['flat']:.0f} MiB, nested {sizes['nested']:.0f} MiB), "
        f"median of {args.rounds} rounds, CPU seconds of the reading process.",
        "",
        "| file | code | unchecked s | checked s | check adds |",
        "|---|---|---:|---:|---:|",
    ]
    for dataset in files:
        for label, _ in trees:
            plain = statistics.median(runs[(dataset, "unchecked", label)])
            checked = statistics.median(runs[(dataset, "checked", label)])
            lines.append(
                f"| {dataset} | {label} | {plain:.2f} | {checked:.2f} | "
                f"{(checked / plain - 1) * 100:+.0f}% |"
            )
    lines += [
        "",
        "Every run:",
        "",
        "| round | file | mode | code | CPU s |",
        "|---|---|---|---|---:|",
    ]
    lines += [f"| {r} | {d} | {m} | {c} | {s:.3f} |" for r, d, m, c, s in listed]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
