"""Upload throughput to S3 (a local moto server): a Sluice export vs `rclone copy` of the
same chunk files to the same server, in the same run, as a ratio.

    python -m benchmarks.upload_bench [--gb 2] [--part-mib 16] [--out benchmarks/results/upload.md]

Three timings over the same bytes:
  * sluice export  - the whole daemon pipeline (read, encode JSON lines, hash, upload)
                     into s3:// with resumable multipart uploads, wall time of the export;
  * sluice sink    - only the S3 sink (the same chunk files written through open_sink,
                     one chunk after another, 1 and N parts at once): the upload path
                     without the encoder;
  * rclone copy    - rclone (defaults: 4 transfers, 5 MiB chunks) of the chunk files.
Throughput is stored bytes / seconds; the ratio divides by rclone's.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.sinks import open_sink
from sluice.sinks.profiles import S3Profile
from tests.servers.cloud import ProfileDaemon
from tests.servers.fixtures import MOTO_KEY_ID, MOTO_SECRET, new_bucket, s3_client
from tests.servers.processes import start_moto

MiB = 1024 * 1024
BYTES_PER_ROW = 515  # JSON lines of sluice.client.demo_data, measured
CHUNK_BYTES = 256 * MiB


def _rclone_env(endpoint: str) -> dict[str, str]:
    # AWS_CA_BUNDLE (set on some CI hosts) breaks rclone's plain-HTTP client; moto is HTTP.
    inherited = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    return {
        **inherited,
        "RCLONE_CONFIG_MOTO_TYPE": "s3",
        "RCLONE_CONFIG_MOTO_PROVIDER": "Other",
        "RCLONE_CONFIG_MOTO_ACCESS_KEY_ID": MOTO_KEY_ID,
        "RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY": MOTO_SECRET,
        "RCLONE_CONFIG_MOTO_ENDPOINT": endpoint,
        "RCLONE_CONFIG_MOTO_REGION": "us-east-1",
    }


def _download(endpoint: str, bucket: str, prefix: str, into: Path) -> list[Path]:
    client = s3_client(endpoint)
    files = []
    reply = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    for item in reply.get("Contents", []):
        if item["Key"].endswith("manifest.json"):
            continue
        target = into / Path(item["Key"]).name
        client.download_file(bucket, item["Key"], str(target))
        files.append(target)
    return sorted(files)


def _sink_upload(endpoint: str, files: list[Path], part_mib: int, concurrency: int) -> float:
    """Seconds to write the chunk files through the S3 sink, one chunk after another."""
    sink = open_sink(
        f"s3://{new_bucket(endpoint)}/bench",
        profile=S3Profile(
            endpoint_url=endpoint,
            access_key_id_ref="env:BENCH_S3_KEY",
            secret_access_key_ref="env:BENCH_S3_SECRET",
            part_size=part_mib * MiB,
            upload_concurrency=concurrency,
        ),
    )
    started = time.perf_counter()
    for path in files:
        writer = sink.create(path.name, overwrite=False)
        with path.open("rb") as handle:
            while block := handle.read(4 * MiB):
                writer.write(block)
        writer.commit()
    return time.perf_counter() - started


def run(gb: float, part_mib: int, concurrency: int, out: Path) -> str:
    if shutil.which("rclone") is None:
        raise SystemExit("rclone is not installed (Debian package rclone; `make test-tools`)")
    moto = start_moto()
    work = Path(tempfile.mkdtemp(prefix="upload-bench-"))
    try:
        rows = int(gb * 1e9 / BYTES_PER_ROW)
        profile = {
            "kind": "s3",
            "endpoint_url": moto.endpoint,
            "access_key_id_ref": "env:BENCH_S3_KEY",
            "secret_access_key_ref": "env:BENCH_S3_SECRET",
            "part_size": part_mib * MiB,
            "upload_concurrency": concurrency,
        }
        environment = {"BENCH_S3_KEY": MOTO_KEY_ID, "BENCH_S3_SECRET": MOTO_SECRET}
        daemon = ProfileDaemon(root=work / "d", profiles={"moto": profile}, environment=environment)
        daemon.settings = {"max_chunk_bytes": CHUNK_BYTES}
        daemon.start()
        generate(daemon.sources / "events.parquet", rows, seed=7)
        bucket = new_bucket(moto.endpoint)
        spec = ExportClient.build_spec(
            source=str(daemon.sources / "events.parquet"),
            to=f"s3://{bucket}/bench",
            dataset="events",
            format="jsonl",
            compression="none",
            chunk_bytes=CHUNK_BYTES,
            storage_profile="moto",
        )
        with ExportClient(daemon.address) as client:
            started = time.perf_counter()
            finished = client.wait(client.create(spec).id, timeout=4 * 3600)
            export_seconds = time.perf_counter() - started
        daemon.stop()
        stored = finished.progress.stored_bytes

        chunks = work / "chunks"
        chunks.mkdir()
        files = _download(moto.endpoint, bucket, "bench/", chunks)

        os.environ.update(environment)
        sink_seconds = {
            n: _sink_upload(moto.endpoint, files, part_mib, n) for n in (1, concurrency)
        }

        rclone_bucket = new_bucket(moto.endpoint)
        started = time.perf_counter()
        subprocess.run(
            ["rclone", "copy", str(chunks), f"moto:{rclone_bucket}/bench"],
            check=True,
            env=_rclone_env(moto.endpoint),
        )
        rclone_seconds = time.perf_counter() - started
    finally:
        moto.stop()
        shutil.rmtree(work, ignore_errors=True)

    rclone_version = subprocess.run(
        ["rclone", "version"], capture_output=True, text=True, check=True
    ).stdout.split()[1]

    def rate(seconds: float) -> float:
        return stored / seconds / MiB

    lines = [
        "# Upload throughput to S3 (moto server on 127.0.0.1)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{stored / 1e9:.2f} GB in {len(files)} chunks of up to {CHUNK_BYTES // MiB} MiB, "
        f"Sluice part size {part_mib} MiB, export with upload_concurrency {concurrency}, "
        "rclone defaults (4 transfers, 4 parts at once per file) "
        f"({rclone_version}).",
        "",
        "| what | seconds | MiB/s | vs rclone |",
        "|---|---:|---:|---:|",
        f"| sluice export (read + encode + hash + upload) | {export_seconds:.1f} | "
        f"{rate(export_seconds):.0f} | {rclone_seconds / export_seconds:.2f}x |",
        *(
            f"| sluice S3 sink, upload only, {n} part(s) at once | {seconds:.1f} | "
            f"{rate(seconds):.0f} | {rclone_seconds / seconds:.2f}x |"
            for n, seconds in sorted(sink_seconds.items())
        ),
        f"| rclone copy of the same chunk files | {rclone_seconds:.1f} | "
        f"{rate(rclone_seconds):.0f} | 1.00x |",
        "",
    ]
    report = "\n".join(lines)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gb", type=float, default=2.0, help="Export size in GB (default 2).")
    parser.add_argument("--part-mib", type=int, default=16, help="Sluice part size in MiB.")
    parser.add_argument("--concurrency", type=int, default=4, help="Sluice parts at once.")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "upload.md")
    arguments = parser.parse_args()
    print(run(arguments.gb, arguments.part_mib, arguments.concurrency, arguments.out))


if __name__ == "__main__":
    main()
