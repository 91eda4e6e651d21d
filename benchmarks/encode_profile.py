"""Where an export's CPU goes, beside Polars' own sinks and DuckDB's COPY of the same rows.

    .venv/bin/python -m benchmarks.encode_profile [--rows 1000000] [--threads 1]
                                                  [--out FILE] [--cprofile DIR] [--chunk-mib N]

Polars encodes for Sluice, so `scan_parquet → sink_ndjson / sink_parquet` of the same
file is the practical ceiling of a Sluice export (issue 21, item 5). Each case runs the
daemon's pipeline in process (`run_pipeline`: the reader, encoder, writer and commit
threads, a local folder sink with its fsyncs, digests, no gRPC) and is timed in CPU
seconds, split by thread: Sluice names its threads (reader-, writer-, commit-, parquet),
the rest are native pools (Polars, Arrow, zstd workers). CPU time stays meaningful on a
busy machine where wall time does not. Peers run in the same process, after the cases.

Three datasets (`--datasets`, comma-separated; default events,nested): the peers
benchmark's events (`server.sample_data`, seed 7), its text-heavy one
(`benchmarks/text_heavy_data.py`, the same cached file) and a nested one made here
(list<str>, list<f64>, a struct holding a struct, nulls in every column), for item 3:
what bounds Parquet with nested columns, beside DuckDB's COPY.

`--chunk-mib N` sets the chunk target size (default: the server's, 64 MiB, one chunk for
1M rows), so a run can show what each chunk's end costs an export of several chunks.

`--threads N` (default 1) sizes every pool (Polars, Arrow, DuckDB, zstd workers): with
pools of one, idle workers spinning before they sleep do not pass for work. `--cprofile
DIR` also writes a cProfile of each case's encoder thread (the Python-level overhead).
"""

# The thread settings below must be in place before Polars is imported.
from __future__ import annotations

import os
import sys


def _threads_from_argv() -> str:
    for i, arg in enumerate(sys.argv):
        if arg == "--threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return "1"


os.environ.setdefault("POLARS_MAX_THREADS", _threads_from_argv())

import argparse  # noqa: E402
import cProfile  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import polars as pl  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey  # noqa: E402

from benchmarks import text_heavy_data  # noqa: E402
from benchmarks.export_bench import DATA, dataset  # noqa: E402
from benchmarks.stage_budget import (  # noqa: E402
    compressed,
    content_digest,
    encoded,
    plan_for,
    source_batches,
)
from sluice.format import bech32  # noqa: E402
from sluice.format.age import RECIPIENT_HRP  # noqa: E402
from sluice.format.temporal_text import temporal_as_text  # noqa: E402
from sluice.server.pipeline.ciphers.age import AgeEncryption  # noqa: E402
from sluice.server.pipeline.export import (  # noqa: E402
    PipelineOptions,
    ResumePoint,
    run_pipeline,
)
from sluice.server.pipeline.parquet_dictionary import dictionary_columns  # noqa: E402
from sluice.server.pipeline.results import ChunkResult, PipelineProgress  # noqa: E402
from sluice.server.planning.plan import build_plan  # noqa: E402
from sluice.server.planning.spec import (  # noqa: E402
    ChunkingSpec,
    DestinationSpec,
    EncryptionSpec,
    ExportSpec,
    OutputSpec,
    SourceSpec,
)
from sluice.server.settings import Settings  # noqa: E402
from sluice.sinks.base import UploadJournal  # noqa: E402
from sluice.sinks.local import LocalSink  # noqa: E402

MB = 1_000_000
REPO = Path(__file__).resolve().parent.parent
_TICK = os.sysconf("SC_CLK_TCK")


# --- per-thread CPU -------------------------------------------------------------------


def _thread_cpu() -> dict[int, float]:
    """CPU seconds of every live thread of this process, by native thread id."""
    spent = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        spent[int(tid)] = (int(fields[11]) + int(fields[12])) / _TICK
    return spent


def _group(name: str) -> str:
    """Sluice's thread names without the export id or worker number."""
    for prefix in ("reader", "writer", "commit", "parquet"):
        if name.startswith(prefix):
            return prefix
    return name


class ThreadCpu:
    """Samples every thread's CPU every 20 ms while running, so threads that end (a
    chunk's Parquet workers, zstd's) are counted up to their last sample; whatever the
    samples miss is reported as `unattributed`. The main thread runs the encoder."""

    def __init__(self) -> None:
        self._last: dict[int, float] = {}
        self._names: dict[int, str] = {}
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, name="sampler", daemon=True)

    def _sample(self) -> None:
        while True:
            self._take()
            if self._stop.wait(0.02):
                return

    def _take(self) -> None:
        for thread in threading.enumerate():
            if thread.native_id is not None:
                self._names.setdefault(thread.native_id, thread.name)
        self._last.update(_thread_cpu())

    def __enter__(self) -> ThreadCpu:
        self._before = _thread_cpu()
        self._process_before = time.process_time()
        self._wall_before = time.perf_counter()
        self._sampler.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._sampler.join()
        self._take()
        self.process = time.process_time() - self._process_before
        self.wall = time.perf_counter() - self._wall_before
        main = threading.main_thread().native_id
        by_group: dict[str, float] = {}
        for tid, spent in self._last.items():
            name = self._names.get(tid, "native pools")
            if tid == main:
                name = "encoder (main)"
            if name == "sampler":
                continue
            spent -= self._before.get(tid, 0.0)
            by_group[_group(name)] = by_group.get(_group(name), 0.0) + spent
        sampler = self._sampler.native_id
        measured = sum(by_group.values()) + self._last.get(sampler or -1, 0.0)
        by_group["unattributed"] = max(0.0, self.process - measured)
        self.groups = {k: v for k, v in by_group.items() if v >= 0.005}


# --- datasets -------------------------------------------------------------------------


def nested_dataset(rows: int, seed: int = 11) -> Path:
    """Rows with list<str>, list<f64>, struct{struct}, a categorical-like text column,
    free text and nulls in every column; cached beside the events dataset."""
    path = DATA / f"nested-{rows}-seed{seed}.parquet"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    words = [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "red",
        "green",
        "blue",
        "eu",
        "us",
        "apac",
        "vip",
        "new",
    ]
    lengths = [rng.randrange(6) for _ in range(rows)]
    frame = pl.DataFrame(
        {
            "id": range(rows),
            "category": [words[rng.randrange(6)] for _ in range(rows)],
            "message": [
                f"order {i} shipped to {words[i % len(words)]} contact user{i}@example.org"
                for i in range(rows)
            ],
            "tags": pl.Series([rng.choices(words, k=n) for n in lengths], dtype=pl.List(pl.String)),
            "scores": pl.Series(
                [[round(rng.random(), 3) for _ in range(n)] for n in lengths],
                dtype=pl.List(pl.Float64),
            ),
            "city": [rng.choice(words) for _ in range(rows)],
            "zip": [str(rng.randrange(10000, 99999)) for _ in range(rows)],
            "age": pl.Series([rng.randrange(18, 90) for _ in range(rows)], dtype=pl.Int32),
            "amount": [rng.random() * 1000 for _ in range(rows)],
            "at": pl.Series([i * 1_000_000 for i in range(rows)]).cast(pl.Datetime("us", "UTC")),
            "null_mask": [rng.random() for _ in range(rows)],
        }
    )
    frame = frame.select(
        "id",
        pl.when(pl.col("null_mask") < 0.1)
        .then(None)
        .otherwise(pl.col("category"))
        .alias("category"),
        pl.when(pl.col("null_mask") > 0.95)
        .then(None)
        .otherwise(pl.col("message"))
        .alias("message"),
        pl.when(pl.col("null_mask").is_between(0.2, 0.25))
        .then(None)
        .otherwise(pl.col("tags"))
        .alias("tags"),
        "scores",
        pl.when(pl.col("null_mask").is_between(0.3, 0.33))
        .then(None)
        .otherwise(
            pl.struct(
                pl.when(pl.col("null_mask") > 0.9).then(None).otherwise(pl.col("age")).alias("age"),
                pl.struct("city", "zip").alias("address"),
            )
        )
        .alias("user"),
        "amount",
        "at",
    )
    partial = path.with_name(path.name + ".partial")
    frame.write_parquet(partial)
    partial.rename(path)
    return path


# --- Sluice in process ----------------------------------------------------------------


class _Quiet:
    """An observer that journals nothing (the job store is not what is measured)."""

    def before_commit(self, index: int) -> None:
        pass

    def chunk_committed(self, chunk: ChunkResult, progress: PipelineProgress) -> None:
        pass

    def progress(self, progress: PipelineProgress) -> None:
        pass

    def upload_journal(self, key: str) -> UploadJournal:
        raise AssertionError("the local sink is not resumable")


@dataclass(frozen=True)
class Case:
    name: str
    fmt: str
    compression: str
    encrypted: bool = False


CASES = (
    Case("(a) jsonl+zstd", "jsonl", "zstd"),
    Case("(a') jsonl+zstd+age", "jsonl", "zstd", encrypted=True),
    Case("(c) parquet(zstd)", "parquet", "zstd"),
)


def recipient() -> str:
    public = X25519PrivateKey.generate().public_key().public_bytes_raw()
    return bech32.encode(RECIPIENT_HRP, public)


@dataclass
class Run:
    dataset: str
    case: str
    cpu: float
    wall: float
    stored: int
    groups: dict[str, float] = field(default_factory=dict)


def sluice_run(
    source: Path, case: Case, threads: int, profile_dir: Path | None, chunk_mib: int = 0
) -> Run:
    root = Path(tempfile.mkdtemp(prefix="sluice-encode-"))
    try:
        settings = Settings(
            state_dir=root / "state", allowed_roots=(root,), allowed_source_roots=(source.parent,)
        )
        spec = ExportSpec(
            source=SourceSpec(uri=str(source)),
            destination=DestinationSpec(uri=str(root / "out"), dataset="profile"),
            output=OutputSpec(format=case.fmt, compression=case.compression, level=3),
            encryption=EncryptionSpec(age_recipients=(recipient(),) if case.encrypted else ()),
            chunking=ChunkingSpec(target_bytes=chunk_mib * 2**20 if chunk_mib else None),
        )
        plan = build_plan(spec, settings, "profile", owner="")
        options = PipelineOptions(
            batch_rows=settings.batch_rows,
            queue_depth=settings.pipeline_queue_depth,
            zstd_threads=threads,
            content_key=b"k" * 32,
        )
        sink = LocalSink(root / "out")
        profiler = cProfile.Profile() if profile_dir else None
        with ThreadCpu() as cpu:
            if profiler:
                profiler.enable()
            totals = run_pipeline(
                plan.pipeline, sink, ResumePoint(), _Quiet(), threading.Event(), options
            )
            if profiler:
                profiler.disable()
        if profiler and profile_dir:
            profile_dir.mkdir(parents=True, exist_ok=True)
            slug = "".join(c if c.isalnum() else "_" for c in f"{source.stem}-{case.name}")
            profiler.dump_stats(profile_dir / f"{slug}.prof")
        return Run(
            source.stem,
            f"Sluice {case.name}",
            cpu.process,
            cpu.wall,
            totals.stored_bytes,
            cpu.groups,
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- peers in process -----------------------------------------------------------------


@contextmanager
def _scratch() -> Iterator[Path]:
    out = Path(tempfile.mkdtemp(prefix="sluice-encode-peer-"))
    try:
        yield out
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _stored(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def peer_run(source: Path, name: str, write: Callable[[Path, Path], None]) -> Run:
    with _scratch() as out, ThreadCpu() as cpu:
        write(source, out)
        stored = _stored(out)
    return Run(source.stem, name, cpu.process, cpu.wall, stored, cpu.groups)


def polars_ndjson(source: Path, out: Path) -> None:
    pl.scan_parquet(source).sink_ndjson(
        out / "x.jsonl.zst", compression="zstd", compression_level=3
    )


def polars_parquet(source: Path, out: Path) -> None:
    pl.scan_parquet(source).sink_parquet(out / "x.parquet", compression="zstd", compression_level=3)


def duckdb_copy(options: str, suffix: str) -> Callable[[Path, Path], None]:
    def write(source: Path, out: Path) -> None:
        import duckdb

        duckdb.sql(
            f"COPY (SELECT * FROM read_parquet('{source}')) TO '{out / ('x.' + suffix)}' {options}"
        )

    return write


PEERS: tuple[tuple[str, str, Callable[[Path, Path], None]], ...] = (
    ("jsonl", "Polars sink_ndjson(zstd 3)", polars_ndjson),
    ("parquet", "Polars sink_parquet(zstd 3)", polars_parquet),
    ("jsonl", "DuckDB COPY json zstd", duckdb_copy("(FORMAT json, COMPRESSION zstd)", "json.zst")),
    (
        "parquet",
        "DuckDB COPY parquet zstd",
        duckdb_copy("(FORMAT parquet, COMPRESSION zstd)", "parquet"),
    ),
)


def _has_duckdb() -> bool:
    try:
        import duckdb
    except ImportError:
        return False
    duckdb.execute(f"SET threads TO {_threads()}")
    return True


def _threads() -> int:
    return int(os.environ["POLARS_MAX_THREADS"])


# --- stages alone ---------------------------------------------------------------------


@dataclass
class StageCpu:
    dataset: str
    stage: str
    cpu: float


def _cpu(run: Callable[[], object], repeat: int) -> float:
    """The median CPU seconds of `repeat` runs of `run`."""
    spent = []
    for _ in range(repeat):
        started = time.process_time()
        run()
        spent.append(time.process_time() - started)
    return sorted(spent)[len(spent) // 2]


def sliced(source: Path, batch_rows: int) -> list[pl.DataFrame]:
    """The reader before row-group pieces: one slice per batch, wherever it starts."""
    scan = pl.scan_parquet(source)
    rows = pq.ParquetFile(source).metadata.num_rows
    return [scan.slice(start, batch_rows).collect() for start in range(0, rows, batch_rows)]


def stage_costs(source: Path, threads: int, repeat: int) -> list[StageCpu]:
    """Each step of a Sluice export alone over the whole file, in the pipeline's batch
    size, beside the Polars sinks that do the same job in one pass."""
    plan = plan_for(source, "none")
    batch_rows = Settings().batch_rows
    raw = source_batches(plan, batch_rows)
    batches = [b.drop(b.columns[0]) for b in raw]  # the row-index column
    ndjson = encoded("jsonl", batches)
    piece = max(1, len(ndjson) // len(batches))
    packed = compressed("zstd", 3, ndjson, threads, piece)
    age = AgeEncryption(
        recipient_keys=(X25519PrivateKey.generate().public_key().public_bytes_raw(),)
    )

    def encrypt() -> None:
        cipher = age.make()
        for i in range(0, len(packed), piece):
            cipher.encrypt(packed[i : i + piece])
        cipher.finish()

    def arrow_parquet(use_dictionary: bool) -> None:
        for batch in batches:
            table = batch.to_arrow()
            pq.write_table(
                table,
                io.BytesIO(),
                row_group_size=table.num_rows,
                compression="zstd",
                compression_level=3,
                use_dictionary=use_dictionary,
            )

    steps: list[tuple[str, Callable[[], object]]] = [
        ("read (Sluice's reader)", lambda: source_batches(plan, batch_rows)),
        ("read (batch-sized slices, as before 8a46f90)", lambda: sliced(source, batch_rows)),
        ("read (Polars, whole file)", lambda: pl.read_parquet(source)),
        ("dates/times as text", lambda: [temporal_as_text(b) for b in batches]),
        ("encode NDJSON (dates as text)", lambda: encoded("jsonl", batches)),
        ("zstd-3 of the NDJSON", lambda: compressed("zstd", 3, ndjson, threads, piece)),
        ("keyed BLAKE3 content digest of the NDJSON", lambda: content_digest(ndjson)),
        ("SHA-256 of the stored bytes", lambda: hashlib.sha256(packed).digest()),
        ("age of the stored bytes", encrypt),
        ("Parquet: dictionary choice (once per chunk)", lambda: dictionary_columns(batches[0])),
        ("Parquet: Polars → Arrow", lambda: [b.to_arrow() for b in batches]),
        ("Parquet: pyarrow, dictionary everywhere", lambda: arrow_parquet(True)),
        ("Parquet: pyarrow, no dictionary", lambda: arrow_parquet(False)),
        ("Parquet: Sluice's encoder (all of it)", lambda: encoded("parquet", batches, "zstd")),
        (
            "Parquet: Polars write_parquet per batch",
            lambda: [
                b.write_parquet(io.BytesIO(), compression="zstd", compression_level=3)
                for b in batches
            ],
        ),
    ]
    costs = []
    for name, run in steps:
        costs.append(StageCpu(source.stem, name, _cpu(run, repeat)))
        print(f"  {source.stem} {name:<44} {costs[-1].cpu:6.2f} CPU s", flush=True)
    costs.append(StageCpu(source.stem, "NDJSON MB", len(ndjson) / MB))
    return costs


# --- report ---------------------------------------------------------------------------


def report(runs: list[Run], stages: list[StageCpu], rows: int, threads: int, rounds: int) -> str:
    lines = [
        f"# Encode profile — {rows:,} rows per dataset",
        "",
        f"- run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, "
        f"polars {pl.__version__}, pyarrow {pa.__version__}",
        f"- pools of {threads} thread(s) (Polars, Arrow, DuckDB, zstd workers); {rounds} "
        "alternating round(s), every run listed; CPU s is the whole process's",
        "- ceiling ratio = the peer's CPU s ÷ Sluice's (≥ 0.9 is issue 21's goal for Polars)",
        "",
        "| dataset | what | CPU s | wall s | stored MB | CPU by thread (s) |",
        "|---|---|---:|---:|---:|---|",
    ]
    for run in runs:
        split = ", ".join(
            f"{k} {v:.2f}" for k, v in sorted(run.groups.items(), key=lambda kv: -kv[1])
        )
        lines.append(
            f"| {run.dataset} | {run.case} | {run.cpu:.2f} | {run.wall:.2f} | "
            f"{run.stored / MB:,.1f} | {split} |"
        )
    lines += [
        "",
        "## Ratios (median CPU s over the rounds)",
        "",
        "| dataset | Sluice case | peer | peer CPU s ÷ Sluice CPU s |",
        "|---|---|---|---:|",
    ]

    def median(dataset: str, what: str) -> float | None:
        values = sorted(r.cpu for r in runs if r.dataset == dataset and r.case == what)
        return values[len(values) // 2] if values else None

    for data in dict.fromkeys(r.dataset for r in runs):
        for case in CASES:
            mine = median(data, f"Sluice {case.name}")
            for fmt, peer, _ in PEERS:
                theirs = median(data, peer)
                if fmt == case.fmt and mine and theirs:
                    lines.append(f"| {data} | {case.name} | {peer} | {theirs / mine:.2f}x |")
        plain = median(data, f"Sluice {CASES[0].name}")
        aged = median(data, f"Sluice {CASES[1].name}")
        if plain and aged:
            lines.append(f"| {data} | age's share of (a') | | {(aged - plain) / aged:+.1%} |")
    lines += [
        "",
        "## Each stage alone (median CPU s), beside the whole runs above",
        "",
        "| dataset | stage | CPU s |",
        "|---|---|---:|",
    ]
    lines += [f"| {c.dataset} | {c.stage} | {c.cpu:.2f} |" for c in stages]
    return "\n".join(lines) + "\n"


def text_heavy_dataset(rows: int, seed: int = 7, pii_share: float = 0.5) -> Path:
    """The peers benchmark's text-heavy dataset (the same cached file), made on first use."""
    path = DATA / f"text-heavy-{rows}-seed{seed}-pii{pii_share:g}.parquet"
    if not path.exists():
        partial = path.with_name(path.name + ".partial")
        text_heavy_data.generate(partial, rows, seed=seed, pii_share=pii_share)
        partial.rename(path)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--datasets", default="events,nested")
    parser.add_argument("--cprofile", type=Path, default=None)
    # Several chunks per export: what a chunk's end costs (0: the server's default size).
    parser.add_argument("--chunk-mib", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/encode_profile.md")
    args = parser.parse_args(argv)
    pa.set_cpu_count(args.threads)
    pa.set_io_thread_count(args.threads)
    duck = _has_duckdb()
    sources = {
        "events": lambda: dataset(args.rows, "parquet"),
        "nested": lambda: nested_dataset(args.rows),
        "text-heavy": lambda: text_heavy_dataset(args.rows),
    }
    runs: list[Run] = []
    stages: list[StageCpu] = []
    for name in args.datasets.split(","):
        source = sources[name]()
        stages += stage_costs(source, args.threads, args.rounds)
        for _ in range(args.rounds):
            for case in CASES:
                runs.append(sluice_run(source, case, args.threads, args.cprofile, args.chunk_mib))
                print(f"  {runs[-1]}", flush=True)
            for _fmt, peer, write in PEERS:
                if peer.startswith("DuckDB") and not duck:
                    continue
                runs.append(peer_run(source, peer, write))
                print(f"  {runs[-1]}", flush=True)
    text = report(runs, stages, args.rows, args.threads, args.rounds)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
