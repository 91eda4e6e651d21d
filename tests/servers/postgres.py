"""A real PostgreSQL for tests: Debian's `postgresql` package (installed by `make
test-tools`), initialised in a temp folder, started on 127.0.0.1 on a free port as the
`postgres` user (initdb refuses root), stopped by its PID at the end of the session.

Each test that needs an empty database asks `PostgresServer.new_database()`. The server
loads pg_stat_statements (a test creates the extension in its database to read it).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from tests.daemon import free_port

_counter = itertools.count()


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run `make test-tools`")
    return Path(found[-1]).parent


@dataclass
class PostgresServer:
    port: int
    process: subprocess.Popen[bytes]
    workdir: Path
    user: str
    names: list[str] = field(default_factory=list)
    #: How it was started, so an outage can end (`restart`) on the same data and port.
    argv: list[str] = field(default_factory=list)
    run_as: str | None = None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh empty database; returns its URL."""
        name = f"t{os.getpid()}_{next(_counter)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        self.names.append(name)
        return self.url(name)

    def halt(self) -> None:
        """Stop the server, keeping its data: a job store outage until `restart`."""
        self.process.send_signal(signal.SIGINT)
        self.process.wait(20)

    def restart(self) -> None:
        """Start the server `halt` stopped, on the same port and data."""
        with (self.workdir / "server.log").open("ab") as out:
            self.process = subprocess.Popen(
                self.argv, user=self.run_as, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT
            )
        self._wait_until_accepting()

    def _wait_until_accepting(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                text = (self.workdir / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"postgres exited early:\n{text}")
            try:
                psycopg.connect(self.url(), connect_timeout=1).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError("postgres did not accept connections within 30s") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            # SIGINT: PostgreSQL's "fast" shutdown (rolls back sessions, exits cleanly).
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_postgres() -> PostgresServer:
    bin_dir = _binaries()
    workdir = Path(tempfile.mkdtemp(prefix="postgres-"))
    data = workdir / "data"
    # initdb and postgres refuse to run as root: as root, run them as `postgres`.
    run_as: str | None = "postgres" if os.geteuid() == 0 else None
    if run_as is not None:
        account = pwd.getpwnam(run_as)
        os.chown(workdir, account.pw_uid, account.pw_gid)
    user = run_as or pwd.getpwuid(os.geteuid()).pw_name
    log = workdir / "server.log"
    subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8"],
        check=True,
        user=run_as,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    port = free_port()
    with log.open("wb") as out:
        # fsync off: a throwaway cluster, speed over durability.
        argv = [str(bin_dir / "postgres"), "-D", str(data), "-k", str(workdir)]
        argv += ["-h", "127.0.0.1", "-p", str(port), "-c", "fsync=off"]
        argv += ["-c", "max_connections=200"]
        # Counts of each statement run, per role (tests count a replica's store reads).
        argv += ["-c", "shared_preload_libraries=pg_stat_statements"]
        process = subprocess.Popen(
            argv,
            user=run_as,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = PostgresServer(port, process, workdir, user, argv=argv, run_as=run_as)
    try:
        server._wait_until_accepting()
    except RuntimeError:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = start_postgres()
    yield server
    server.stop()
