"""Planning and reading a glob of small Parquet files in S3 (moto behind a proxy that
counts GETs and adds a round trip): wall time and requests, in this process.

    PYTHONPATH=... python -m benchmarks.cloud_footer_reads --files 50 --latency-ms 20

One run does what an export's run does with its source: resolve the glob, read its
schema, survey its first file, count its rows, then read every batch (the reader
surveys every footer before its first row). Run it on two trees to compare them.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time

import polars as pl

from sluice.server.pipeline.reader import read_batches
from sluice.server.pipeline.source import ROW_INDEX, count_rows, read_schema, resolve_source
from sluice.server.pipeline.unreadable_columns import survey_source
from sluice.sinks.profiles import S3Profile
from tests.servers.fault_proxy import FaultPlan, FaultProxy
from tests.servers.fixtures import MOTO_KEY_ID, MOTO_SECRET, new_bucket, s3_client
from tests.servers.processes import start_moto


def _run(uri: str, profile: S3Profile) -> int:
    source = resolve_source(uri, "", [], profile)
    schema = read_schema(source)
    survey_source(source, [])
    count_rows(source)
    columns = [name for name in schema if name != ROW_INDEX]
    return sum(frame.height for frame in read_batches(source, schema, columns, 65_536))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--rows", type=int, default=1_000, help="rows per file")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    moto = start_moto()
    try:
        bucket = new_bucket(moto.endpoint)
        client = s3_client(moto.endpoint)
        for index in range(args.files):
            buffer = io.BytesIO()
            first = index * args.rows
            pl.DataFrame({"id": range(first, first + args.rows)}).write_parquet(buffer)
            client.put_object(Bucket=bucket, Key=f"in/{index:04}.parquet", Body=buffer.getvalue())
        os.environ.update(BENCH_S3_KEY=MOTO_KEY_ID, BENCH_S3_SECRET=MOTO_SECRET)
        with FaultProxy(moto.port, FaultPlan(get_delay=args.latency_ms / 1000)) as proxy:
            profile = S3Profile(
                endpoint_url=proxy.endpoint,
                access_key_id_ref="env:BENCH_S3_KEY",
                secret_access_key_ref="env:BENCH_S3_SECRET",
            )
            uri = f"s3://{bucket}/in/*.parquet"
            walls = []
            for _ in range(args.repeat):
                before = len(proxy.ranged_reads)
                started = time.perf_counter()
                rows = _run(uri, profile)
                walls.append(time.perf_counter() - started)
                gets = len(proxy.ranged_reads) - before
            assert rows == args.files * args.rows
        print(
            f"files={args.files} latency={args.latency_ms:g}ms ranged GETs/run={gets} "
            f"wall median={statistics.median(walls):.2f}s "
            f"runs={' '.join(f'{w:.2f}' for w in walls)}"
        )
    finally:
        moto.stop()


if __name__ == "__main__":
    main()
