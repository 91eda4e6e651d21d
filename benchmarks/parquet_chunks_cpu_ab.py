"""CPU of in-process Parquet exports at several chunk sizes, two trees alternating, and
whether they store the same bytes.

    .venv/bin/python -m benchmarks.parquet_chunks_cpu_ab --trees /work/main,. [--rounds 3]
        [--rows 1000000] [--dataset events] [--chunk-mib 1,4,0]

Each round runs, for each tree in turn (the order flipped every round), one child
process with that tree's interpreter (`<tree>/.venv/bin/python`, whose editable install
makes `sluice` that tree's code) running this file with `--child`: a warm-up export of
the 1M-row file's first 100,000 rows, then one export of the file per chunk size (0: the
server's default), each through `run_pipeline` into a local folder (reader, encoder,
writer and commit threads, digests and fsyncs; no gRPC, no job store). CPU seconds are
the process's (user + sys, every thread) over `run_pipeline`; every run is printed, and
the SHA-256 of every stored chunk is compared between the trees.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

DATA = Path(__file__).resolve().parent / ".data"


def _export(source: Path, chunk_mib: int) -> dict[str, object]:
    """One Parquet (zstd 3) export of `source`: CPU seconds and each chunk's SHA-256."""
    from sluice.server.pipeline.export import PipelineOptions, ResumePoint, run_pipeline
    from sluice.server.pipeline.results import ChunkResult, PipelineProgress
    from sluice.server.planning.plan import build_plan
    from sluice.server.planning.spec import (
        ChunkingSpec,
        DestinationSpec,
        ExportSpec,
        OutputSpec,
        SourceSpec,
    )
    from sluice.server.settings import Settings
    from sluice.sinks.local import LocalSink

    class Quiet:
        def before_commit(self, index: int) -> None:
            pass

        def chunk_committed(self, chunk: ChunkResult, progress: PipelineProgress) -> None:
            pass

        def progress(self, progress: PipelineProgress) -> None:
            pass

    root = Path(tempfile.mkdtemp(prefix="parquet-chunks-ab-"))
    try:
        settings = Settings(
            state_dir=root / "state", allowed_roots=(root,), allowed_source_roots=(source.parent,)
        )
        spec = ExportSpec(
            source=SourceSpec(uri=str(source)),
            destination=DestinationSpec(uri=str(root / "out"), dataset="ab"),
            output=OutputSpec(format="parquet", compression="zstd", level=3),
            chunking=ChunkingSpec(target_bytes=chunk_mib * 2**20 if chunk_mib else None),
        )
        plan = build_plan(spec, settings, "ab", owner="")
        options = PipelineOptions(
            batch_rows=settings.batch_rows,
            queue_depth=settings.pipeline_queue_depth,
            zstd_threads=settings.zstd_threads,
            content_key=b"k" * 32,
            queue_bytes=settings.pipeline_queue_bytes,
        )
        started = time.process_time()
        run_pipeline(
            plan.pipeline, LocalSink(root / "out"), ResumePoint(), Quiet(), threading.Event(),
            options,
        )  # fmt: skip
        cpu = time.process_time() - started
        chunks = sorted(p for p in (root / "out").rglob("*") if p.is_file())
        return {
            "cpu": cpu,
            "chunks": [hashlib.sha256(p.read_bytes()).hexdigest() for p in chunks],
            "bytes": sum(p.stat().st_size for p in chunks),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def child(source: Path, warm_up: Path, chunk_sizes: list[int]) -> None:
    from sluice.server.pipeline import parquet_dictionary

    print(json.dumps({"code": parquet_dictionary.__file__}), flush=True)
    _export(warm_up, 1)  # first-use costs
    for mib in chunk_sizes:
        print(json.dumps({"chunk_mib": mib, **_export(source, mib)}), flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", default="/work/main,.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dataset", default="events")
    parser.add_argument("--chunk-mib", default="1,4,0")
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args(argv)
    name = "events-{}-seed7" if args.dataset == "events" else "text-heavy-{}-seed7-pii0.5"
    source = DATA / f"{name.format(args.rows)}.parquet"
    warm_up = DATA / f"{name.format(1_000_000)}.head100000.parquet"
    sizes = [int(s) for s in args.chunk_mib.split(",")]
    if args.child:
        child(source, warm_up, sizes)
        return

    trees = [Path(t).resolve() for t in args.trees.split(",")]
    env = {**os.environ, "POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", "1")}
    runs: dict[tuple[Path, int], list[dict[str, object]]] = {}
    print(f"{source.name}, POLARS_MAX_THREADS={env['POLARS_MAX_THREADS']}, load "
          f"{os.getloadavg()[0]:.2f}")  # fmt: skip
    print("| round | tree | chunk MiB | CPU s | chunks | stored bytes |")
    print("|---:|---|---:|---:|---:|---:|")
    for round_ in range(args.rounds):
        for tree in trees if round_ % 2 == 0 else list(reversed(trees)):
            done = subprocess.run(
                [str(tree / ".venv/bin/python"), __file__, "--child", "--rows", str(args.rows),
                 "--dataset", args.dataset, "--chunk-mib", args.chunk_mib],
                cwd=tree, env=env, check=True, capture_output=True, text=True,
            )  # fmt: skip
            lines = [json.loads(line) for line in done.stdout.splitlines()]
            code = Path(lines[0]["code"])
            if not code.is_relative_to(tree):
                raise SystemExit(f"{tree} ran {code}")
            for run in lines[1:]:
                runs.setdefault((tree, run["chunk_mib"]), []).append(run)
                print(f"| {round_ + 1} | {tree} | {run['chunk_mib'] or 'default'} | "
                      f"{run['cpu']:.2f} | {len(run['chunks'])} | {run['bytes']:,} |",
                      flush=True)  # fmt: skip
    print(
        "\n| chunk MiB | " + " | ".join(f"{t.name} median CPU s" for t in trees) + " | same bytes |"
    )
    print("|---:|" + "---:|" * len(trees) + "---|")
    for mib in sizes:
        medians = [statistics.median(r["cpu"] for r in runs[t, mib]) for t in trees]  # type: ignore[misc]
        digests = {tuple(r["chunks"]) for t in trees for r in runs[t, mib]}  # type: ignore[arg-type]
        print(f"| {mib or 'default'} | " + " | ".join(f"{m:.3f}" for m in medians)
              + f" | {'yes' if len(digests) == 1 else 'NO'} |")  # fmt: skip


if __name__ == "__main__":
    main()
    sys.exit(0)
