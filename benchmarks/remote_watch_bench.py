"""What WatchExport watchers of an export running on ANOTHER replica cost their replica
and the shared PostgreSQL job store.

    python -m benchmarks.remote_watch_bench [--rows 1000000] [--watchers 100] [--rounds 2]
                                            [--poll 1.0] [--against /work/main] [--out FILE]

Each run starts a throwaway PostgreSQL (tests/servers/postgres.py, with
pg_stat_statements) once, then per case a fresh database and two daemons on it: replica
A runs an export of the cached Parquet dataset to jsonl+zstd(--level; the default 15
keeps it running well after B is up); replica B, started once A holds the export (so B
never claims it), is watched by 0 or N WatchExport streams (export_bench.Watchers)
until the export ends. Measured on B from the watchers' start to the end: its CPU
seconds (user + system, psutil), and, by PostgreSQL's own count for B's database role,
its statements and its reads of one job by id (JobStore.get). Reads per poll: job reads
over the seconds divided by `--poll` (job_store_poll_seconds of both replicas), and the
same less the one read each watcher makes as it starts (its snapshot); A's store
signals (a NOTIFY per journalled change) add a read each. With `--against TREE` both
trees run every round, the order alternating round by round.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg

from benchmarks.export_bench import REPO, Watchers, dataset, log, running_daemon
from sluice.client import ExportClient
from sluice.v1 import export_pb2
from tests.servers.postgres import PostgresServer, start_postgres

_JOB_READ = "SELECT % FROM jobs WHERE id = $1"
_roles = itertools.count()


@dataclass(frozen=True)
class Run:
    round: int
    tree: Path
    watchers: int
    seconds: float
    cpu_seconds: float
    statements: int
    job_reads: int
    events: int
    #: Whether the export still ran when the measurement began (else it measured little).
    ran: bool


def _with_role(url: str, role: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{role}@{parts.netloc.rsplit('@', 1)[-1]}"))


def _counts(conn: psycopg.Connection[tuple[object, ...]], role: str) -> tuple[int, int]:
    """(statements, job reads by id) `role` ran in this database so far."""
    row = conn.execute(
        "SELECT coalesce(sum(s.calls), 0),"
        " coalesce(sum(s.calls) FILTER (WHERE s.query LIKE %s), 0)"
        " FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid"
        " JOIN pg_database d ON d.oid = s.dbid"
        " WHERE r.rolname = %s AND d.datname = current_database()",
        (_JOB_READ, role),
    ).fetchone()
    assert row is not None
    return int(str(row[0])), int(str(row[1]))


def _run(
    server: PostgresServer,
    tree: Path,
    source: Path,
    level: int,
    watchers: int,
    poll: float,
    round_: int,
) -> Run:
    url = server.new_database()
    role = f"watching_{next(_roles)}_{int(time.time())}"
    common = {"job_store": url, "job_store_poll_seconds": poll, "log_level": "WARNING"}
    with (
        tempfile.TemporaryDirectory(prefix="remote-watch-") as tmp,
        psycopg.connect(url, autocommit=True) as conn,
    ):
        conn.execute(f'CREATE ROLE "{role}" LOGIN SUPERUSER'.encode())
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        (Path(tmp) / "a").mkdir()
        (Path(tmp) / "b").mkdir()
        with running_daemon(
            Path(tmp) / "a", source.parent, settings_extra={**common, "replica_id": "a"}, tree=tree
        ) as runner:
            spec = ExportClient.build_spec(
                source=str(source), to=str(runner.exports), dataset="events",
                format="jsonl", compression="zstd", level=level,
            )  # fmt: skip
            with ExportClient(runner.address) as client:
                export_id = client.create(spec).id
                while client.get(export_id).replica != "a":
                    time.sleep(0.05)
            settings_b = {**common, "replica_id": "b", "job_store": _with_role(url, role)}
            with (
                running_daemon(
                    Path(tmp) / "b", source.parent, settings_extra=settings_b, tree=tree
                ) as watching,  # fmt: skip
                Watchers(watching.address, watchers) as streams,
            ):
                process = psutil.Process(watching.process.pid)
                cpu_before = process.cpu_times()
                counted_before = _counts(conn, role)
                started = time.monotonic()
                with ExportClient(runner.address) as client:
                    ran = client.get(export_id).state == export_pb2.EXPORT_STATE_RUNNING
                if watchers:
                    streams.watch(export_id)
                    streams.join()
                else:
                    with ExportClient(runner.address) as client:
                        client.wait(export_id, timeout=4 * 3600)
                seconds = time.monotonic() - started
                cpu_after = process.cpu_times()
                counted_after = _counts(conn, role)
                events = streams.events
    cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    return Run(
        round_, tree, watchers, seconds, cpu,
        counted_after[0] - counted_before[0], counted_after[1] - counted_before[1], events,
        ran,
    )  # fmt: skip


def _table(runs: Sequence[Run], watchers: int, poll: float) -> list[str]:
    lines = [
        "| round | tree | watchers on B | seconds | B CPU s | B statements | B job reads "
        "| job reads per poll | the same less snapshots | events | export ran |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        per_poll = r.job_reads / (r.seconds / poll)
        # Each watcher reads the job once itself as it starts, for its snapshot.
        polled = (r.job_reads - r.watchers) / (r.seconds / poll)
        lines.append(
            f"| {r.round} | {r.tree} | {r.watchers} | {r.seconds:.1f} | {r.cpu_seconds:.2f} "
            f"| {r.statements:,} | {r.job_reads:,} | {per_poll:.1f} | {polled:.1f} | {r.events:,} "
            f"| {'yes' if r.ran else 'NO: ended before B was up'} |"
        )
    lines += ["", f"B's CPU with {watchers} watchers minus without, per round:", ""]
    lines += ["| tree | per round, CPU s | median CPU s |", "|---|---|---|"]
    for tree in dict.fromkeys(r.tree for r in runs):
        extra = []
        for round_ in sorted({r.round for r in runs}):
            pair = {r.watchers: r.cpu_seconds for r in runs if r.tree == tree and r.round == round_}
            if 0 in pair and watchers in pair:
                extra.append(pair[watchers] - pair[0])
        if extra:
            lines.append(
                f"| {tree} | {', '.join(f'{e:+.2f}' for e in extra)} "
                f"| {statistics.median(extra):+.2f} |"
            )
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.remote_watch_bench", description=__doc__
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the dataset")
    parser.add_argument("--watchers", type=int, default=100, help="WatchExport streams on B")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (each: every tree, 0 and N)")
    parser.add_argument("--level", type=int, default=15, help="zstd level (the export's pace)")
    parser.add_argument("--poll", type=float, default=1.0, help="job_store_poll_seconds")
    parser.add_argument(
        "--against", type=Path, default=None,
        help="another checkout (with its own .venv) run alternately with this one",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="also write the tables here")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.watchers < 1 or args.rounds < 1 or args.poll <= 0:
        parser.error("--rows, --watchers, --rounds and --poll must be positive")
    source = dataset(args.rows, "parquet")
    trees = [REPO] if args.against is None else [REPO, args.against.resolve()]
    server = start_postgres()
    runs: list[Run] = []
    try:
        for round_ in range(1, args.rounds + 1):
            order = trees if round_ % 2 else trees[::-1]
            counts = (0, args.watchers) if round_ % 2 else (args.watchers, 0)
            for tree in order:
                for watchers in counts:
                    log(f"round {round_}: {tree}, {watchers} watchers on B")
                    runs.append(_run(server, tree, source, args.level, watchers, args.poll, round_))
    finally:
        server.stop()
    text = "\n".join(_table(runs, args.watchers, args.poll)) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
