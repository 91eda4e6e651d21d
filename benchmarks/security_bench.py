"""What TLS and a bearer token cost: the same exports and unary calls against a plaintext
daemon and a TLS + principals daemon, side by side in one run (issue 15's measurement).

    python -m benchmarks.security_bench [--rows 1000000] [--calls 1000] [--rounds 3]

Both daemons run at once on the same machine and source; rounds alternate between them,
so drift (page cache, a neighbour's load) hits both alike. Every round is reported, and
the goal (an export with TLS + token at most 5% slower) is judged on the medians.
Writes benchmarks/results/security.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.export_bench import REPO, dataset, log
from sluice.client import ExportClient
from sluice.v1 import export_pb2 as pb
from tests.integration.tls_certs import Authority

RESULTS = REPO / "benchmarks" / "results"
GOAL = 0.05


@dataclass(frozen=True)
class Target:
    name: str
    address: str
    exports: Path
    ca: Path | None = None
    token: str | None = None

    def client(self) -> ExportClient:
        return ExportClient(self.address, tls_ca=self.ca, token=self.token, timeout=60)


def _free_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def _toml(settings: dict[str, object], tables: dict[str, str]) -> str:
    lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    return "\n".join([*lines, *tables.values()]) + "\n"


@contextmanager
def daemon(root: Path, source_root: Path, *, secure: bool) -> Iterator[Target]:
    """A daemon on a free loopback port; with `secure`, TLS (a fresh CA) and one
    principal whose token is stored as its SHA-256 digest."""
    root.mkdir(parents=True)
    exports = root / "exports"
    exports.mkdir()
    address = _free_address()
    settings: dict[str, object] = {
        "address": address,
        "state_dir": str(root / "state"),
        "allowed_roots": [str(exports)],
        "allowed_source_roots": [str(source_root)],
        "log_level": "WARNING",
    }
    tables: dict[str, str] = {}
    ca_file: Path | None = None
    token: str | None = None
    if secure:
        authority = Authority.create("Sluice benchmark CA")
        ca_file = authority.write_ca(root / "ca.crt")
        server = authority.issue(root, "tls", common_name="sluice.bench", server=True)
        token = secrets.token_urlsafe(32)
        digest = hashlib.sha256(token.encode()).hexdigest()
        tables["tls"] = f'[tls]\ncert_file = "{server.cert_file}"\nkey_file = "{server.key_file}"'
        tables["auth"] = (
            f'[[auth.principals]]\nname = "bench"\ntoken_sha256 = "{digest}"\n'
            'scopes = ["exports:create", "exports:read"]'
        )
    config = root / "sluice.toml"
    config.write_text(_toml(settings, tables))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    log_path = root / "daemon.log"
    with log_path.open("wb") as out:
        command = [sys.executable, "-m", "sluice.client.cli.main", "serve", "--config", str(config)]
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=out)
    target = Target("TLS + token" if secure else "plaintext", address, exports, ca_file, token)
    try:
        with target.client() as client:
            deadline = time.monotonic() + 60
            while not client.health(timeout=1):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"daemon did not start:\n{log_path.read_text()[-4000:]}")
                time.sleep(0.1)
        yield target
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def export_seconds(target: Target, source: Path, dataset_name: str) -> tuple[float, str]:
    """Wall time of one parquet -> jsonl+zstd export, from CreateExport to its end, and
    the export's id."""
    spec = ExportClient.build_spec(source=str(source), to=str(target.exports), dataset=dataset_name)
    with target.client() as client:
        started = time.perf_counter()
        done = client.wait(client.create(spec).id, timeout=3600)
        seconds = time.perf_counter() - started
    if done.state != pb.EXPORT_STATE_SUCCEEDED:
        raise RuntimeError(f"{target.name}: export {done.id} ended {done.state}")
    return seconds, done.id


def calls_seconds(target: Target, export_id: str, calls: int) -> float:
    """Wall time of `calls` GetExport calls on one channel (as a client polls)."""
    with target.client() as client:
        client.get(export_id)  # the connection (and TLS handshake) once, as a client would
        started = time.perf_counter()
        for _ in range(calls):
            client.get(export_id)
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.security_bench", description=__doc__
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "security.md")
    args = parser.parse_args(argv)
    source = dataset(args.rows, "parquet")
    load_before = os.getloadavg()[0]
    exports: dict[str, list[float]] = {"plaintext": [], "TLS + token": []}
    unary: dict[str, list[float]] = {"plaintext": [], "TLS + token": []}
    with tempfile.TemporaryDirectory(prefix="security-bench-") as tmp:
        root = Path(tmp)
        with (
            daemon(root / "plain", source.parent, secure=False) as plain,
            daemon(root / "secure", source.parent, secure=True) as secure,
        ):
            for round_number in range(args.rounds):
                order = (plain, secure) if round_number % 2 == 0 else (secure, plain)
                for target in order:
                    seconds, export_id = export_seconds(target, source, f"r{round_number}")
                    exports[target.name].append(seconds)
                    unary[target.name].append(calls_seconds(target, export_id, args.calls))
                    log(f"round {round_number + 1} {target.name}: export {seconds:.2f}s")
    report = _report(args, exports, unary, load_before)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    log(f"wrote {args.out}")
    print(report)


def _report(
    args: argparse.Namespace,
    exports: dict[str, list[float]],
    unary: dict[str, list[float]],
    load_before: float,
) -> str:
    plain, secure = (
        statistics.median(exports["plaintext"]),
        statistics.median(exports["TLS + token"]),
    )
    slower = secure / plain - 1
    calls_plain = statistics.median(unary["plaintext"]) / args.calls * 1e6
    calls_secure = statistics.median(unary["TLS + token"]) / args.calls * 1e6
    lines = [
        "# TLS + token vs plaintext",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.platform()}, "
        f"{os.cpu_count()} CPUs; load average before {load_before:.2f}, after "
        f"{os.getloadavg()[0]:.2f}",
        f"- {args.rows:,} rows parquet -> jsonl+zstd per export; {args.calls:,} GetExport "
        f"calls per round on one channel; {args.rounds} alternating rounds, both daemons up",
        "",
        "| round | plaintext export s | TLS + token export s | plaintext GetExport µs | "
        "TLS + token GetExport µs |",
        "|---|---:|---:|---:|---:|",
    ]
    for n in range(args.rounds):
        lines.append(
            f"| {n + 1} | {exports['plaintext'][n]:.2f} | {exports['TLS + token'][n]:.2f} | "
            f"{unary['plaintext'][n] / args.calls * 1e6:.0f} | "
            f"{unary['TLS + token'][n] / args.calls * 1e6:.0f} |"
        )
    verdict = "✓" if slower <= GOAL else "✗"
    lines += [
        "",
        f"Median export: plaintext {plain:.2f} s, TLS + token {secure:.2f} s: "
        f"**{slower:+.1%}** (goal ≤ +5%) {verdict}.",
        f"Median GetExport: plaintext {calls_plain:.0f} µs, TLS + token {calls_secure:.0f} µs "
        f"per call ({calls_secure / calls_plain - 1:+.0%}).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
