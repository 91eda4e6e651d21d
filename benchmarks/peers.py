"""The peers Sluice is measured against, one export per fresh process.

    python -m benchmarks.peers PEER SOURCE OUT_DIR

Reads the Parquet file SOURCE, writes into OUT_DIR (which must exist) and prints one JSON
line: seconds, cpu_seconds (all threads), rows, stored_bytes, baseline_rss and
peak_rss (bytes). Seconds and CPU seconds cover the export only, not the interpreter's
start or the imports. Peak RSS is the kernel's high-water mark of this process (VmHWM),
start-up included, as the daemon's is. Each
peer imports only its own libraries, so the figures carry no weight from the others;
benchmarks.peers_bench drives these runs.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._proc import high_water_mark, resident

#: zstd and gzip levels of Sluice's defaults (server/pipeline/compressors.py), so every
#: tool compresses equally hard.
ZSTD_LEVEL = 3
GZIP_LEVEL = 6
#: Records per part file of the seed-style exporter.
SEED_CHUNK_ROWS = 50_000


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _duckdb(options: str, name: str) -> Callable[[Path, Path], int]:
    def run(source: Path, out: Path) -> int:
        import duckdb

        with duckdb.connect() as con:
            copied = con.execute(
                f"COPY (SELECT * FROM read_parquet({_sql_path(source)})) "
                f"TO {_sql_path(out / name)} ({options})"
            ).fetchone()
        assert copied is not None
        return int(copied[0])

    return run


def _source_rows(source: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.read_metadata(source).num_rows)


def polars_jsonl_zstd(source: Path, out: Path) -> int:
    import polars as pl

    pl.scan_parquet(source).sink_ndjson(
        out / "events.jsonl.zst", compression="zstd", compression_level=ZSTD_LEVEL
    )
    return _source_rows(source)


def polars_parquet(source: Path, out: Path) -> int:
    import polars as pl

    pl.scan_parquet(source).sink_parquet(
        out / "events.parquet", compression="zstd", compression_level=ZSTD_LEVEL
    )
    return _source_rows(source)


def polars_csv_gzip(source: Path, out: Path) -> int:
    import polars as pl

    # CSV has no nesting: structs and lists go out as JSON text, as Sluice writes them.
    frame = pl.scan_parquet(source)
    nested = [name for name, dtype in frame.collect_schema().items() if dtype.is_nested()]
    as_json = [
        pl.struct(pl.col(n).alias("v")).struct.json_encode().str.slice(5).str.head(-1).alias(n)
        for n in nested
    ]
    frame.with_columns(as_json).sink_csv(
        out / "events.csv.gz", compression="gzip", compression_level=GZIP_LEVEL
    )
    return _source_rows(source)


# -- the seed-style exporter: the per-record Python code Sluice replaces -----------------

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_PHONE = re.compile(r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d(?:[ .-]?\d){6,}")


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        value = _EMAIL.sub("[EMAIL]", value)
        value = _CARD.sub("[CARD]", value)
        return _PHONE.sub("[PHONE]", value)
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items()}
    return value


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy arrays (list columns) and scalars
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def seed_jsonl_zstd(source: Path, out: Path) -> int:
    """pandas to_dict("records"), then per record: `re` redaction of emails, cards and
    phone numbers in every text value, `json.dumps`; per part: zstd, sha256 of the stored
    bytes, and a manifest of the parts at the end."""
    import pandas as pd
    import zstandard

    frame = pd.read_parquet(source)
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    parts = []
    written = 0
    for number, start in enumerate(range(0, len(frame), SEED_CHUNK_ROWS)):
        records = frame.iloc[start : start + SEED_CHUNK_ROWS].to_dict("records")
        lines = [
            json.dumps({k: _redact(v) for k, v in record.items()}, default=_jsonable)
            for record in records
        ]
        stored = compressor.compress(("\n".join(lines) + "\n").encode())
        path = out / f"part-{number:06d}.jsonl.zst"
        path.write_bytes(stored)
        parts.append({"path": path.name, "records": len(lines), "sha256": _sha256(stored)})
        written += len(lines)
    (out / "manifest.json").write_text(json.dumps({"parts": parts}))
    return written


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dlt_jsonl_gzip(source: Path, out: Path) -> int:
    """dlt's filesystem destination, jsonl (dlt gzips it; it offers no zstd), fed Arrow
    record batches: dlt's fastest input, with no per-row Python objects."""
    import dlt
    import pyarrow.parquet as pq

    @dlt.resource(name="events")
    def events() -> Any:
        yield from pq.ParquetFile(source).iter_batches(batch_size=65_536)

    pipeline = dlt.pipeline(
        pipeline_name="peers_bench",
        pipelines_dir=str(out / ".dlt-pipelines"),
        destination=dlt.destinations.filesystem(bucket_url=(out / "lake").as_uri()),
        dataset_name="bench",
    )
    pipeline.run(events(), loader_file_format="jsonl")
    normalized = pipeline.last_trace.last_normalize_info if pipeline.last_trace else None
    if normalized is None:
        raise RuntimeError("dlt reported no normalize step")
    return int(normalized.row_counts["events"])


def _quiet_dlt(out: Path) -> None:
    """No telemetry (this machine has no network), nothing written outside `out`. Set
    before dlt is imported: it reads its configuration then."""
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    os.environ["DLT_DATA_DIR"] = str(out / ".dlt-data")


PEERS: dict[str, Callable[[Path, Path], int]] = {
    # DuckDB takes no level for compressed text files; its zstd default is level 3 too.
    "duckdb-jsonl-zstd": _duckdb("FORMAT json, COMPRESSION zstd", "events.jsonl.zst"),
    "duckdb-parquet": _duckdb(
        f"FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL {ZSTD_LEVEL}", "events.parquet"
    ),
    "duckdb-csv-gzip": _duckdb("FORMAT csv, HEADER, COMPRESSION gzip", "events.csv.gz"),
    "polars-jsonl-zstd": polars_jsonl_zstd,
    "polars-parquet": polars_parquet,
    "polars-csv-gzip": polars_csv_gzip,
    "seed-jsonl-zstd": seed_jsonl_zstd,
    "dlt-jsonl-gzip": dlt_jsonl_gzip,
}
#: Libraries each peer loads, imported before the baseline RSS is taken (the daemon's
#: baseline, too, is taken with its libraries loaded).
IMPORTS = {
    "duckdb": ("duckdb",),
    "polars": ("polars", "pyarrow.parquet"),
    "seed": ("pandas", "zstandard"),
    "dlt": ("dlt", "pyarrow.parquet"),
}
#: Where each peer keeps what it stored, when not in all of OUT_DIR (dlt's own state
#: and pipeline folders are not the export).
STORED_UNDER = {"dlt-jsonl-gzip": "lake/bench/events"}


def stored_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: list[str]) -> None:
    peer, source, out = argv[0], Path(argv[1]), Path(argv[2])
    if peer.startswith("dlt"):
        _quiet_dlt(out)
    for module in IMPORTS[peer.split("-")[0]]:
        importlib.import_module(module)
    baseline = resident(os.getpid()) or 0
    started, cpu_started = time.perf_counter(), time.process_time()
    rows = PEERS[peer](source, out)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so a child would report
    # its parent's size at fork if that were larger.
    peak = high_water_mark(os.getpid()) or 0
    result = {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "rows": rows,
        "stored_bytes": stored_bytes(out / STORED_UNDER.get(peer, "")),
        "baseline_rss": baseline,
        "peak_rss": peak,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
