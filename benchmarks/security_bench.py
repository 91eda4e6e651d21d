"""What TLS and a bearer token cost: the same exports and unary calls against a plaintext
daemon and a TLS + principals daemon, side by side in one run (issue 15's measurement).

    python -m benchmarks.security_bench [--rows 1000000] [--calls 1000] [--rounds 11]
                                        [--small-exports 30]

Both daemons run at once on the same machine and source; rounds alternate between them,
so drift (page cache, a neighbour's load) hits both alike, and every measurement starts
once both daemons are quiet (an export's worker pools spin a while after it ends; that
CPU must not compete with the other daemon's export). Each export and each batch of
GetExport calls is measured in wall time and in the daemon's own CPU time (from /proc,
steadier on a busy machine). Every round is reported, then medians with their spread and
the median of each round's own ratio; the goal (an export with TLS + token at most 5%
slower) is judged on both.

An export's data never crosses gRPC: what TLS + token can add to it is fixed per export
(a TLS handshake, CreateExport, the Watch stream, authentication), so that is measured
apart, precisely, with many small exports per daemon, and set against the big export's
CPU. AuthInterceptor's own per-call work is measured in-process beside them, to tell it
from the TLS transport.
Appends the run to benchmarks/results/security.md.
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

from benchmarks._proc import process_cpu_seconds
from benchmarks.export_bench import REPO, dataset, log
from sluice.client import ExportClient
from sluice.server.principals import Authenticator, PrincipalConfig, token_digest
from sluice.server.rpc.auth import AuthInterceptor
from sluice.v1 import export_pb2 as pb
from tests.integration.tls_certs import Authority

RESULTS = REPO / "benchmarks" / "results"
GOAL = 0.05
MIN_ROUNDS = 5
#: A daemon is quiet when it used less than one 10 ms tick of CPU in this long.
QUIET_SECONDS = 0.5
#: Longest wait for quiet daemons before measuring anyway (said in the report).
SETTLE_LIMIT = 30.0
#: Rows of each small export (the fixed per-export cost).
SMALL_ROWS = 1_000
PLAIN = "plaintext"
SECURE = "TLS + token"


@dataclass(frozen=True)
class Target:
    name: str
    address: str
    exports: Path
    pid: int
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
def daemon(
    root: Path, source_root: Path, *, secure: bool, label: str | None = None
) -> Iterator[Target]:
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
    name = label or (SECURE if secure else PLAIN)
    target = Target(name, address, exports, process.pid, ca_file, token)
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


@dataclass
class Sample:
    """One measurement: wall seconds and the daemon's CPU seconds (all its threads)."""

    wall: float
    cpu: float


def _daemon_cpu(target: Target) -> float:
    seconds = process_cpu_seconds(target.pid)
    if seconds is None:
        raise RuntimeError(f"{target.name}: no /proc/{target.pid}/stat (Linux only)")
    return seconds


def settle(targets: tuple[Target, ...]) -> bool:
    """Waits until no daemon uses CPU (less than a tick in QUIET_SECONDS): the previous
    export's pools have gone idle. False when SETTLE_LIMIT passed first."""
    deadline = time.monotonic() + SETTLE_LIMIT
    while time.monotonic() < deadline:
        before = [_daemon_cpu(target) for target in targets]
        time.sleep(QUIET_SECONDS)
        used = [_daemon_cpu(target) - cpu for target, cpu in zip(targets, before, strict=True)]
        if max(used) < 0.01:
            return True
    return False


def export_sample(target: Target, source: Path, dataset_name: str) -> tuple[Sample, str]:
    """One parquet -> jsonl+zstd export, from CreateExport to its end (wall time and the
    daemon's CPU time over that span), and the export's id."""
    spec = ExportClient.build_spec(source=str(source), to=str(target.exports), dataset=dataset_name)
    with target.client() as client:
        client.health(timeout=5)  # the connection (and TLS handshake) outside the span
        cpu = _daemon_cpu(target)
        started = time.perf_counter()
        done = client.wait(client.create(spec).id, timeout=3600)
        sample = Sample(time.perf_counter() - started, _daemon_cpu(target) - cpu)
    if done.state != pb.EXPORT_STATE_SUCCEEDED:
        raise RuntimeError(f"{target.name}: export {done.id} ended {done.state}")
    return sample, done.id


def calls_sample(target: Target, export_id: str, calls: int) -> Sample:
    """`calls` GetExport calls on one channel (as a client polls): wall and daemon CPU
    seconds per call."""
    with target.client() as client:
        client.get(export_id)  # the connection (and TLS handshake) once, as a client would
        cpu = _daemon_cpu(target)
        started = time.perf_counter()
        for _ in range(calls):
            client.get(export_id)
        wall = time.perf_counter() - started
        return Sample(wall / calls, (_daemon_cpu(target) - cpu) / calls)


class _Context:
    """Just enough of a grpc.ServicerContext for AuthInterceptor's authentication."""

    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self._metadata = metadata

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def auth_context(self) -> dict[str, list[bytes]]:
        return {}


def authentication_micro(principals: int, calls: int = 20_000) -> tuple[float, float]:
    """CPU µs per call of AuthInterceptor's own work in-process (time.process_time):
    without principals, and with `principals` configured and the last one's token
    presented. The rest of the per-call difference is the transport (TLS)."""
    configs = []
    for n in range(principals):
        token = f"token-{n}"
        configs.append((PrincipalConfig(name=f"p{n}", token_sha256=token_digest(token)),
                        token_digest(token)))  # fmt: skip
    results = []
    for enabled in (False, True):
        interceptor = AuthInterceptor(Authenticator(configs, enabled=enabled), None)
        context = _Context((("authorization", f"Bearer token-{principals - 1}"),))
        authenticate = interceptor._authenticate  # the measured step itself
        started = time.process_time()
        for _ in range(calls):
            authenticate(None, context, "/sluice.v1.ExportService/GetExport")  # type: ignore[arg-type]
        results.append((time.process_time() - started) / calls * 1e6)
    return results[0], results[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.security_bench", description=__doc__
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=11, help="at least 5")
    parser.add_argument(
        "--small-exports",
        type=int,
        default=30,
        help=f"{SMALL_ROWS:,}-row exports per daemon for the fixed per-export cost",
    )
    parser.add_argument(
        "--control",
        action="store_true",
        help="an A/A run: the second daemon is plaintext too, so the table shows the "
        "difference two identical daemons make on this machine (the noise floor)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "security.md")
    args = parser.parse_args(argv)
    if args.rounds < MIN_ROUNDS:
        parser.error(f"--rounds must be at least {MIN_ROUNDS} for a median and a spread")
    source = dataset(args.rows, "parquet")
    small_source = dataset(SMALL_ROWS, "parquet")
    load_before = os.getloadavg()[0]
    exports: dict[str, list[Sample]] = {PLAIN: [], SECURE: []}
    unary: dict[str, list[Sample]] = {PLAIN: [], SECURE: []}
    small: dict[str, list[Sample]] = {PLAIN: [], SECURE: []}
    unsettled = 0
    with tempfile.TemporaryDirectory(prefix="security-bench-") as tmp:
        root = Path(tmp)
        with (
            daemon(root / "plain", source.parent, secure=False) as plain,
            daemon(root / "secure", source.parent, secure=not args.control, label=SECURE) as secure,
        ):
            both = (plain, secure)
            for round_number in range(args.rounds):
                order = (plain, secure) if round_number % 2 == 0 else (secure, plain)
                export_ids = {}
                for target in order:
                    unsettled += not settle(both)
                    sample, export_ids[target.name] = export_sample(
                        target, source, f"r{round_number}"
                    )
                    exports[target.name].append(sample)
                    log(f"round {round_number + 1} {target.name}: export {sample.wall:.2f}s "
                        f"wall, {sample.cpu:.2f}s daemon CPU")  # fmt: skip
                for target in order:
                    # An export's worker pools spin a while after it ends; that CPU is
                    # not the calls'.
                    unsettled += not settle(both)
                    calls = calls_sample(target, export_ids[target.name], args.calls)
                    unary[target.name].append(calls)
            for number in range(args.small_exports):
                for target in both if number % 2 == 0 else (secure, plain):
                    unsettled += not settle(both)
                    sample, _ = export_sample(target, small_source, f"small{number}")
                    small[target.name].append(sample)
            log(f"{args.small_exports} small exports per daemon: "
                + ", ".join(f"{name} {statistics.mean(s.cpu for s in samples) * 1e3:.1f} ms "
                            "daemon CPU each" for name, samples in small.items()))  # fmt: skip
    micro = {n: authentication_micro(n) for n in (1, 20)}
    report = _report(args, exports, unary, small, micro, load_before, unsettled)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not args.out.exists():
        args.out.write_text("# TLS + token vs plaintext\n\nEvery run, oldest first.\n")
    with args.out.open("a") as out:  # every run is kept: none may be left out
        out.write("\n" + report)
    log(f"appended to {args.out}")
    print(report)


def _spread(values: list[float]) -> str:
    """Median, then min and max as ± percentages of it."""
    middle = statistics.median(values)
    return (
        f"{middle:.{_digits(middle)}f} "
        f"({min(values) / middle - 1:+.0%}/{max(values) / middle - 1:+.0%})"
    )


def _digits(value: float) -> int:
    return 0 if value >= 100 else 2


def _ratio(secure: list[float], plain: list[float]) -> float:
    return statistics.median(secure) / statistics.median(plain) - 1


def _paired(secure: list[float], plain: list[float]) -> float:
    """The median of each round's own ratio (both measured in the same round)."""
    return statistics.median(s / p for s, p in zip(secure, plain, strict=True) if p > 0) - 1


def _report(
    args: argparse.Namespace,
    exports: dict[str, list[Sample]],
    unary: dict[str, list[Sample]],
    small: dict[str, list[Sample]],
    micro: dict[int, tuple[float, float]],
    load_before: float,
    unsettled: int,
) -> str:
    def column(
        samples: dict[str, list[Sample]], name: str, what: str, scale: float = 1
    ) -> list[float]:
        return [getattr(s, what) * scale for s in samples[name]]

    rows = [
        ("export wall s", exports, "wall", 1.0),
        ("export daemon CPU s", exports, "cpu", 1.0),
        ("GetExport wall µs", unary, "wall", 1e6),
        ("GetExport daemon CPU µs", unary, "cpu", 1e6),
    ]
    lines = [
        f"## Run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC ({args.rounds} rounds)"
        + (" — A/A CONTROL" if args.control else ""),
        "",
        *(
            [
                "**Control run (`--control`): both daemons are plaintext; the "
                '"TLS + token" columns are a second, identical plaintext daemon.** The '
                "differences below are what this machine's noise alone produces.",
                "",
            ]
            if args.control
            else []
        ),
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.platform()}, "
        f"{os.cpu_count()} CPUs; load average before {load_before:.2f}, after "
        f"{os.getloadavg()[0]:.2f}",
        f"- {args.rows:,} rows parquet -> jsonl+zstd per export; {args.calls:,} GetExport "
        f"calls per round on one channel; {args.rounds} alternating rounds, both daemons up",
        "- daemon CPU: user + system seconds of the daemon process (all threads, from "
        "/proc/PID/stat, 10 ms ticks) over the same span as the wall time; every export "
        f"and batch of calls starts once both daemons are quiet (< 1 tick in "
        f"{QUIET_SECONDS} s; {unsettled} measurement(s) started after waiting "
        f"{SETTLE_LIMIT:.0f} s without)",
        "",
        "| round | "
        + " | ".join(f"{n} {name}" for name, *_ in rows for n in ("plain", "TLS"))
        + " |",
        "|---|" + "---:|" * (2 * len(rows)),
    ]
    for n in range(args.rounds):
        cells = []
        for _, samples, what, scale in rows:
            for name in (PLAIN, SECURE):
                value = getattr(samples[name][n], what) * scale
                cells.append(f"{value:.{_digits(value)}f}")
        lines.append(f"| {n + 1} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Medians (min/max against the median):",
        "",
        "| measure | plaintext | TLS + token | vs plaintext (medians) | median of round ratios |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, samples, what, scale in rows:
        plain = column(samples, PLAIN, what, scale)
        secure = column(samples, SECURE, what, scale)
        lines.append(
            f"| {label} | {_spread(plain)} | {_spread(secure)} | "
            f"**{_ratio(secure, plain):+.1%}** | {_paired(secure, plain):+.1%} |"
        )
    wall = _ratio(column(exports, SECURE, "wall"), column(exports, PLAIN, "wall"))
    cpu = _ratio(column(exports, SECURE, "cpu"), column(exports, PLAIN, "cpu"))
    paired_cpu = _paired(column(exports, SECURE, "cpu"), column(exports, PLAIN, "cpu"))
    verdict = "✓" if max(wall, cpu) <= GOAL else "✗"
    lines += [
        "",
        f"Export with TLS + token: {wall:+.1%} wall, {cpu:+.1%} daemon CPU on the medians, "
        f"{paired_cpu:+.1%} daemon CPU as the median of the rounds' own ratios "
        f"(goal ≤ +5%) {verdict}.",
        *_fixed_cost(small, statistics.median(column(exports, PLAIN, "cpu"))),
        "",
        "AuthInterceptor's own work per call, in-process CPU (the rest of the per-call "
        "difference is the TLS transport):",
        "",
        "| principals configured | no principals µs | bearer token µs |",
        "|---:|---:|---:|",
        *(f"| {n} | {off:.1f} | {on:.1f} |" for n, (off, on) in micro.items()),
        "",
    ]
    return "\n".join(lines)


def _fixed_cost(small: dict[str, list[Sample]], export_cpu: float) -> list[str]:
    """What TLS + token adds to one export whatever its size (the handshake, CreateExport,
    the Watch stream, authentication), from the small exports' mean daemon CPU, and that
    as a share of the big plaintext export's daemon CPU."""
    if not small[PLAIN] or not small[SECURE]:
        return []
    plain, secure = (statistics.mean(s.cpu for s in small[name]) for name in (PLAIN, SECURE))
    added = secure - plain
    return [
        "",
        f"Fixed per-export cost, {len(small[PLAIN])} exports of {SMALL_ROWS:,} rows per daemon "
        f"(mean daemon CPU): plaintext {plain * 1e3:.1f} ms, TLS + token {secure * 1e3:.1f} ms; "
        f"TLS + token adds **{added * 1e3:+.1f} ms** per export, "
        f"{added / export_cpu:+.2%} of the plaintext big export's median daemon CPU.",
    ]


if __name__ == "__main__":
    main()
