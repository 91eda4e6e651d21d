"""How long a daemon takes from process start to answering: what a rolling restart on
Kubernetes waits for (the readiness probe) and what every test that starts a daemon pays.

    python -m benchmarks.start_latency [--runs 7] [--python OTHER/.venv/bin/python ...]

Starts `sluice serve` the way the tests do (tests/daemon.py: `python -m
sluice.client.cli.main serve --config FILE`, a fresh state folder each run), and times
process start to the first SERVING answer of the health service: the overall check ("",
what the chart's startup and liveness probes ask) and then `sluice.v1.ExportService`
(the readiness probe). Beside the wall time it reports the daemon's CPU seconds at that
moment (/proc), which a busy machine inflates far less than the wall time. Given several
interpreters (one per checkout's venv), the runs alternate between them, A B A B, so a
change in the machine's load falls on both alike.

`--cached-bytecode` starts the daemons as the image runs them, from compiled bytecode
(the image's pip install compiles every module): with PYTHONDONTWRITEBYTECODE set, as on
a development machine, an editable install compiles each of Sluice's ~300 modules at
every start. One uncounted start per interpreter fills the cache first.

The health channel asks to reconnect every 10 ms: gRPC's default backoff (1 s, growing)
would otherwise round every start up to its next reconnect attempt.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks._proc import process_cpu_seconds
from tests.daemon import free_port

#: Reconnect at once and every 10 ms while the port is not yet open.
_FAST_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 10),
    ("grpc.min_reconnect_backoff_ms", 10),
    ("grpc.max_reconnect_backoff_ms", 10),
]
_SERVING = health_pb2.HealthCheckResponse.SERVING


@dataclass(frozen=True)
class Start:
    healthy_seconds: float
    ready_seconds: float
    cpu_seconds: float


def start_once(
    python: str, root: Path, bytecode_cache: Path | None = None, timeout: float = 60.0
) -> Start:
    """Start one daemon with `python` in a fresh folder under `root`, wait until it is
    ready, stop it; the timings of that start. With `bytecode_cache`, modules are
    compiled once into it and loaded from it after that."""
    port = free_port()
    (root / "exports").mkdir(parents=True)
    config = root / "sluice.toml"
    config.write_text(
        f'address = "127.0.0.1:{port}"\n'
        f'state_dir = "{root / "state"}"\n'
        f'allowed_roots = ["{root / "exports"}"]\n'
        'log_level = "INFO"\n'
    )
    command = [python, "-m", "sluice.client.cli.main", "serve", "--config", str(config)]
    environment = dict(os.environ)
    if bytecode_cache is not None:
        environment.pop("PYTHONDONTWRITEBYTECODE", None)
        environment["PYTHONPYCACHEPREFIX"] = str(bytecode_cache)
    with (root / "daemon.log").open("wb") as log:
        started = time.monotonic()
        process = subprocess.Popen(
            command, cwd=root, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}", options=_FAST_RECONNECT) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            healthy = _wait_serving(stub, "", process, started + timeout) - started
            ready = _wait_serving(stub, "sluice.v1.ExportService", process, started + timeout)
            cpu = process_cpu_seconds(process.pid) or 0.0
        return Start(healthy, ready - started, cpu)
    finally:
        process.terminate()
        process.wait(30)


def _wait_serving(
    stub: health_pb2_grpc.HealthStub,
    service: str,
    process: subprocess.Popen[bytes],
    deadline: float,
) -> float:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daemon exited with status {process.returncode}")
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1)
            if reply.status == _SERVING:
                return time.monotonic()
        except grpc.RpcError:
            pass
        time.sleep(0.005)
    raise RuntimeError(f"not SERVING {service!r} in time")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.start_latency")
    parser.add_argument("--runs", type=int, default=7, help="starts per interpreter")
    parser.add_argument(
        "--python",
        nargs="+",
        default=[sys.executable],
        help="interpreters to start the daemon with (each checkout's .venv/bin/python)",
    )
    parser.add_argument(
        "--cached-bytecode",
        action="store_true",
        help="load modules from compiled bytecode, as the image does (see above)",
    )
    args = parser.parse_args(argv)
    # Absolute, not resolved: a venv's python is a symlink whose place names the venv.
    pythons = [os.path.abspath(python) for python in args.python]
    results: dict[str, list[Start]] = {python: [] for python in pythons}
    with tempfile.TemporaryDirectory(prefix="sluice-start-") as tmp:
        cache = Path(tmp) / "bytecode" if args.cached_bytecode else None
        if cache is not None:
            for index, python in enumerate(pythons):
                start_once(python, Path(tmp) / f"warm-{index}", cache)
        for run in range(args.runs):
            for index, python in enumerate(pythons):
                start = start_once(python, Path(tmp) / f"{run}-{index}", cache)
                results[python].append(start)
                print(
                    f"{python}: run {run + 1}: healthy {start.healthy_seconds:.3f} s, "
                    f"ready {start.ready_seconds:.3f} s, daemon CPU {start.cpu_seconds:.2f} s",
                    flush=True,
                )
    for python, starts in results.items():
        print(
            f"{python}: median of {len(starts)}: "
            f"healthy {statistics.median(s.healthy_seconds for s in starts):.3f} s, "
            f"ready {statistics.median(s.ready_seconds for s in starts):.3f} s, "
            f"daemon CPU {statistics.median(s.cpu_seconds for s in starts):.2f} s "
            f"(min {min(s.cpu_seconds for s in starts):.2f}, "
            f"max {max(s.cpu_seconds for s in starts):.2f})"
        )


if __name__ == "__main__":
    main()
