"""The PostgreSQL source benchmark's peers, one per process:

    python -m benchmarks.postgres_peers PEER POSTGRES_URL TABLE OUT_DIR

prints one JSON object (rows, seconds, stored_bytes, baseline_rss, peak_rss) for one
peer exporting the whole table into OUT_DIR:

- duckdb-parquet / duckdb-jsonl-zstd: DuckDB's postgres extension,
  `COPY (SELECT * FROM postgres_scan(...)) TO ...`. The extension comes from the
  `duckdb-ext-postgres` wheel (no download at run time: DuckDB is pointed at the
  wheel's extension folder and told never to fetch one). That wheel pins the DuckDB
  release it was built for, older than the project's, so these two run in their own
  virtual environment (`make bench-postgres` makes it; the `bench-pg-duckdb` extra).
- dlt-parquet / dlt-jsonl-gzip: dlt's `sql_table` (the sql_database source) with the
  pyarrow backend and its default chunk_size, into the filesystem destination (dlt
  gzips jsonl; it has no zstd).

Only the standard library is imported at the top: a peer's memory is its own library's.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks._proc import high_water_mark, resident


def _duckdb_connection() -> object:
    """DuckDB with the postgres extension loaded from the installed wheel, offline."""
    import duckdb

    spec = importlib.util.find_spec("duckdb_ext")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("duckdb-ext-postgres is not installed (make bench-postgres)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "extensions"
    con = duckdb.connect()
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET extension_directory = ?", [str(folder)])
    con.execute("LOAD postgres_scanner")
    return con


def _duckdb(options: str, suffix: str) -> Callable[[str, str, Path], int]:
    def run(url: str, table: str, out: Path) -> int:
        con: object = _duckdb_connection()
        target = out / f"export.{suffix}"
        # postgres_scan takes a libpq connection string (a URL is one).
        select = f"SELECT * FROM postgres_scan('{url}', 'public', '{table}')"
        # COPY ... TO answers with the number of rows it wrote.
        written = con.execute(f"COPY ({select}) TO '{target}' ({options})").fetchone()  # type: ignore[attr-defined]
        return int(written[0])

    return run


def _dlt(file_format: str) -> Callable[[str, str, Path], int]:
    def run(url: str, table: str, out: Path) -> int:
        import dlt
        from dlt.sources.sql_database import sql_table

        # SQLAlchemy with psycopg 3 (already a daemon dependency), not psycopg2.
        engine_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        resource = sql_table(credentials=engine_url, table=table, backend="pyarrow")
        pipeline = dlt.pipeline(
            pipeline_name="postgres_bench",
            pipelines_dir=str(out / ".dlt-pipelines"),
            destination=dlt.destinations.filesystem(bucket_url=(out / "lake").as_uri()),
            dataset_name="bench",
        )
        pipeline.run(resource, loader_file_format=file_format)
        normalized = pipeline.last_trace.last_normalize_info
        if normalized is None:
            raise RuntimeError("dlt reported no normalize step")
        return int(normalized.row_counts[table])

    return run


PEERS: dict[str, Callable[[str, str, Path], int]] = {
    "duckdb-parquet": _duckdb("FORMAT parquet, COMPRESSION zstd", "parquet"),
    "duckdb-jsonl-zstd": _duckdb("FORMAT json, COMPRESSION zstd", "jsonl.zst"),
    "dlt-parquet": _dlt("parquet"),
    "dlt-jsonl-gzip": _dlt("jsonl"),
}
#: Libraries each peer loads before its baseline RSS is taken.
IMPORTS = {"duckdb": ("duckdb",), "dlt": ("dlt", "pyarrow", "sqlalchemy")}


def _stored_bytes(peer: str, out: Path) -> int:
    folder = out / "lake" / "bench" if peer.startswith("dlt") else out
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and "_dlt" not in p.name)


def main(argv: list[str]) -> None:
    peer, url, table, out = argv[0], argv[1], argv[2], Path(argv[3])
    out.mkdir(parents=True, exist_ok=True)
    if peer.startswith("dlt"):
        # No telemetry (this machine has no network), nothing written outside `out`.
        os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
        os.environ["DLT_DATA_DIR"] = str(out / ".dlt-data")
    for module in IMPORTS[peer.split("-")[0]]:
        __import__(module)
    baseline = resident(os.getpid()) or 0
    started = time.perf_counter()
    cpu = time.process_time()
    rows = PEERS[peer](url, table, out)
    result = {
        "rows": rows,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "stored_bytes": _stored_bytes(peer, out),
        "baseline_rss": baseline,
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec.
        "peak_rss": high_water_mark(os.getpid()) or 0,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
