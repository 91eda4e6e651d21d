"""CPU cost of each pipeline stage on its own, and of DuckDB's COPY doing the same job.

    python -m benchmarks.stage_budget [--rows 1000000] [--out FILE]

Sluice overlaps its stages on separate threads (reader, encoder, writer and zstd's own
workers), so once every core is busy an export's wall time follows the CPU its stages
need together. Each stage here runs alone over the whole dataset, in the pipeline's
batch size, timed in CPU seconds, which other load on a shared machine disturbs less
than wall time. DuckDB's COPY is
timed the same way. The last table adds up each output mode's stages, names the
costliest, and sets the sum beside DuckDB's work for the same output.

Everything runs on one thread (Polars, Arrow and DuckDB thread pools of one; zstd with
one worker): idle pool threads spin before they sleep, and that spinning would count as
CPU time of whichever stage ran, inflating bursty stages several times over.
"""

# The thread setting below must be in place before Polars is imported.
from __future__ import annotations

import os

os.environ["POLARS_MAX_THREADS"] = "1"

import argparse
import hashlib
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from benchmarks.export_bench import dataset
from sluice.server.pipeline.ciphers.age import AgeEncryption
from sluice.server.pipeline.compressors import COMPRESSORS
from sluice.server.pipeline.content_hasher import ContentHasher
from sluice.server.pipeline.encoders import ENCODERS, ChunkContext
from sluice.server.pipeline.reader import read_batches
from sluice.server.planning.plan import ExportPlan, build_plan
from sluice.server.planning.spec import (
    DestinationSpec,
    ExportSpec,
    OutputSpec,
    RedactionSpec,
    SourceSpec,
)
from sluice.server.settings import Settings

MB = 1_000_000
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Stage:
    name: str
    cpu_seconds: float


def cpu_seconds(run: Callable[[], object]) -> float:
    started = time.process_time()
    run()
    return time.process_time() - started


def plan_for(source: Path, level: str) -> ExportPlan:
    root = Path(tempfile.mkdtemp(prefix="sluice-budget-"))
    settings = Settings(
        state_dir=root / "state", allowed_roots=(root,), allowed_source_roots=(source.parent,)
    )
    spec = ExportSpec(
        source=SourceSpec(uri=str(source)),
        destination=DestinationSpec(uri=str(root), dataset="budget"),
        output=OutputSpec(format="jsonl", compression="zstd", level=3),
        redaction=RedactionSpec(level=level),
    )
    return build_plan(spec, settings, f"budget-{level}", owner="")


def source_batches(plan: ExportPlan, batch_rows: int) -> list[pl.DataFrame]:
    return list(
        read_batches(plan.source, plan.source_schema, plan.query.required_columns, batch_rows)
    )


def encoded(fmt: str, batches: Sequence[pl.DataFrame], codec: str = "none") -> bytes:
    # One worker, like zstd here: the stage's CPU cost, not how it spreads over cores.
    context = ChunkContext("budget", "budget", 0, codec=codec, level=3, workers=1)
    encoder = ENCODERS[fmt].make(context)
    return b"".join(encoder.encode(batch) for batch in batches) + encoder.finish()


def compressed(kind: str, level: int, data: bytes, threads: int, piece: int) -> bytes:
    compressor = COMPRESSORS[kind].make(level, threads, "")
    parts = [compressor.compress(data[i : i + piece]) for i in range(0, len(data), piece)]
    return b"".join(parts) + compressor.flush()


def content_digest(plaintext: bytes) -> str:
    """The chunks' content digest, as the writer thread computes it."""
    hasher = ContentHasher(b"k" * 32)
    hasher.update(plaintext)
    return hasher.text()


def measure(rows: int, batch_rows: int) -> tuple[list[Stage], dict[str, float], int]:
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    source = dataset(rows, "parquet")
    plan = plan_for(source, "none")
    stages: list[Stage] = []

    def stage(name: str, run: Callable[[], object]) -> None:
        stages.append(Stage(name, cpu_seconds(run)))
        print(f"  {name:<44} {stages[-1].cpu_seconds:6.2f} CPU s", flush=True)

    stage("read Parquet → Polars batches", lambda: source_batches(plan, batch_rows))
    raw = source_batches(plan, batch_rows)
    for level in ("basic", "moderate"):
        redactor = plan_for(source, level).redactor
        stage(
            f"redaction {level}",
            lambda r=redactor: [r.apply(b.lazy()).collect() for b in raw],  # type: ignore[misc]
        )
    batches = [batch.drop(batch.columns[0]) for batch in raw]  # the row-index column
    ndjson = encoded("jsonl", batches)
    logical = len(ndjson)
    stage("encode NDJSON (Polars)", lambda: encoded("jsonl", batches))
    stage("encode CSV (Polars)", lambda: encoded("csv", batches))
    stage("encode Parquet+zstd (pyarrow)", lambda: encoded("parquet", batches, "zstd"))
    piece = max(1, logical // len(batches))
    stage("zstd-3 (one worker)", lambda: compressed("zstd", 3, ndjson, 1, piece))
    csv = encoded("csv", batches)
    stage("gzip-6 of the CSV", lambda: compressed("gzip", 6, csv, 0, piece))
    packed = compressed("zstd", 3, ndjson, 1, piece)
    stage("keyed BLAKE3 content digest (plaintext)", lambda: content_digest(ndjson))
    stage("SHA-256 of stored bytes", lambda: hashlib.sha256(packed).digest())
    age = AgeEncryption(
        recipient_keys=(X25519PrivateKey.generate().public_key().public_bytes_raw(),)
    )

    def encrypt() -> None:
        cipher = age.make()
        for i in range(0, len(packed), piece):
            cipher.encrypt(packed[i : i + piece])
        cipher.finish()

    stage("age (ChaCha20-Poly1305) of stored bytes", encrypt)
    return stages, duckdb_seconds(source), logical


DUCKDB_COPIES = {
    "ndjson.zst": "(FORMAT json, COMPRESSION zstd)",
    "parquet": "(FORMAT parquet, COMPRESSION zstd)",
    "csv.gz": "(FORMAT csv, HEADER, COMPRESSION gzip)",
}


def duckdb_seconds(source: Path) -> dict[str, float]:
    try:
        import duckdb
    except ImportError:
        return {}
    duckdb.execute("SET threads TO 1")
    out = Path(tempfile.mkdtemp(prefix="sluice-budget-duckdb-"))
    spent = {}
    for suffix, options in DUCKDB_COPIES.items():
        query = (
            f"COPY (SELECT * FROM read_parquet('{source}')) TO '{out / ('x.' + suffix)}' {options}"
        )
        spent[suffix] = cpu_seconds(lambda q=query: duckdb.sql(q))  # type: ignore[misc]
        print(f"  DuckDB COPY → {suffix:<31} {spent[suffix]:6.2f} CPU s", flush=True)
    return spent


#: Per Sluice mode: the stages it runs, and DuckDB's COPY of the same output.
MODES = {
    "(a) jsonl+zstd": (
        ["read", "encode NDJSON", "zstd-3", "HMAC", "SHA-256"],
        "ndjson.zst",
    ),
    "(b) jsonl+zstd+age+moderate": (
        ["read", "redaction moderate", "encode NDJSON", "zstd-3", "HMAC", "SHA-256", "age"],
        "ndjson.zst",
    ),
    "(c) parquet(zstd)": (["read", "encode Parquet", "HMAC", "SHA-256"], "parquet"),
    "(d) csv+gzip": (["read", "encode CSV", "gzip", "HMAC", "SHA-256"], "csv.gz"),
}


def report(stages: list[Stage], duck: dict[str, float], logical: int, rows: int) -> str:
    lines = [
        f"# Stage CPU budget — {rows:,} rows, {logical / MB:,.1f} MB as NDJSON",
        "",
        f"- run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, polars {pl.__version__}",
        "- CPU seconds of each stage alone over the dataset, on one thread (thread pools of one);",
        "  MB/s per core = NDJSON MB / CPU s.",
        "",
        "| stage | CPU s | MB/s per core |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {s.name} | {s.cpu_seconds:.2f} | {logical / MB / s.cpu_seconds:,.0f} |" for s in stages
    ]
    lines += [
        f"| DuckDB COPY → {k} (all of it) | {v:.2f} | {logical / MB / v:,.0f} |"
        for k, v in duck.items()
    ]
    lines += [
        "",
        "## Work per mode",
        "",
        "The mode's stages added up, its costliest stage, and DuckDB's COPY of the same",
        "output on one thread. Sluice overlaps its stages on separate threads and DuckDB",
        "parallelises its own work, so with every core busy their throughputs compare",
        "roughly as the inverse of this work. CPU times on a shared virtual machine vary",
        "by a fair margin from run to run: read shares and ratios within one report.",
        "",
        "| mode | CPU s | costliest stage | DuckDB CPU s | DuckDB's work ÷ Sluice's |",
        "|---|---:|---|---:|---:|",
    ]
    for mode, (parts, peer) in MODES.items():
        chosen = [s for s in stages if any(s.name.startswith(p) for p in parts)]
        total = sum(s.cpu_seconds for s in chosen)
        top = max(chosen, key=lambda s: s.cpu_seconds)
        duck_cpu = duck.get(peer)
        ratio = f"{duck_cpu / total:.2f}x" if duck_cpu else "n/a"
        lines.append(
            f"| {mode} | {total:.2f} | {top.name} ({top.cpu_seconds / total:.0%}) | "
            f"{duck_cpu or float('nan'):.2f} | {ratio} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-rows", type=int, default=Settings().batch_rows)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/stage_budget.md")
    args = parser.parse_args(argv)
    stages, duck, logical = measure(args.rows, args.batch_rows)
    text = report(stages, duck, logical, args.rows)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
