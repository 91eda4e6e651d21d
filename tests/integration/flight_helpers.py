"""What the Flight tests share: a daemon with a passphrase secret and a short put idle
timeout, the DoPut command, and the pyarrow.flight client processes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.daemon import Daemon

CLIENT = Path(__file__).with_name("flight_put_client.py")
GET_CLIENT = Path(__file__).with_name("flight_get_client.py")
PASSPHRASE = "a passphrase for pushed records"


class TomlTable(dict[str, str]):
    """An inline TOML table in the daemon's config."""

    def __str__(self) -> str:
        return "{ " + ", ".join(f'{k} = "{v}"' for k, v in self.items()) + " }"


@pytest.fixture
def flight_daemon(daemon_factory, tmp_path: Path) -> Daemon:  # type: ignore[no-untyped-def]
    (tmp_path / "pp").write_text(PASSPHRASE + "\n")
    d = daemon_factory(
        "flight",
        batch_rows=2048,
        age_scrypt_work_factor=10,
        flight_put_idle_timeout=4.0,
        secrets=TomlTable(pp=f"file:{tmp_path / 'pp'}"),
    )
    d.start()
    return d


def command(daemon: Daemon, request_id: str, **spec: Any) -> str:
    destination = {"uri": str(daemon.exports), "dataset": "pushed"}
    return json.dumps({"requestId": request_id, "spec": {"destination": destination, **spec}})


def expected(rows: int) -> pl.DataFrame:
    """The client's table (flight_put_client.table), rebuilt here."""
    return pl.DataFrame(
        {
            "id": pl.Series(range(rows), dtype=pl.Int64),
            "name": [f"user-{i}" for i in range(rows)],
            "email": [f"user{i}@example.com" for i in range(rows)],
            "amount": [i * 0.25 for i in range(rows)],
        }
    )


def get(daemon: Daemon, dataset: str, export_id: str, out: Path) -> dict[str, Any]:
    """Read an export back with flight_get_client.py; its JSON summary, or {"error": ...}."""
    result = subprocess.run(
        [sys.executable, str(GET_CLIENT), daemon.address, dataset, export_id, str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.stdout.strip(), result.stderr[-2000:]
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


#: Client processes started by put(); reap_clients kills those a failed test left.
_STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def reap_clients() -> Iterator[None]:
    yield
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait()


def put(daemon: Daemon, cmd: str, rows: int, *args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, str(CLIENT), daemon.address, cmd, str(rows), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _STARTED.append(process)
    return process


def finish(process: subprocess.Popen[str], timeout: float = 240) -> list[dict[str, Any]]:
    out, err = process.communicate(timeout=timeout)
    acks = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert process.returncode == 0, (acks[-3:], err[-2000:])
    return acks
