"""`sluice export put --from FILE` of an Arrow IPC file streams it: the CLI process's
peak memory stays far below the file's size (the file was read whole, then sent), and
every row arrives exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.daemon import REPO, Daemon
from tests.integration import flight_helpers
from tests.integration.helpers import read_export

flight_daemon = flight_helpers.flight_daemon
pytestmark = [pytest.mark.integration, pytest.mark.slow]

MiB = 1024 * 1024
COLUMNS = 12  # int64 columns: 96 bytes a row


def _write_arrow_file(path: Path, rows: int, batch_rows: int) -> None:
    schema = pa.schema([("id", pa.int64())] + [(f"c{i}", pa.int64()) for i in range(1, COLUMNS)])
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        for start in range(0, rows, batch_rows):
            ids = pa.array(range(start, min(start + batch_rows, rows)), pa.int64())
            columns = [ids] + [pc.multiply(ids, i) for i in range(1, COLUMNS)]
            writer.write_batch(pa.record_batch(columns, schema=schema))


def _put(daemon: Daemon, path: Path, dataset: str, out: Path) -> tuple[dict[str, object], int]:
    """Run `sluice export put` in a child process: its final JSON and its peak RSS in
    bytes (from the child's own rusage, whatever else this process ran)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    command = [sys.executable, "-m", "sluice.client.cli.main", "--server", daemon.address]
    command += ["export", "put", "--from", str(path), "--to", str(daemon.exports)]
    command += ["--dataset", dataset, "--format", "arrow", "--compression", "none"]
    command += ["--chunk-rows", "50000", "--json"]
    with (out / f"{dataset}.out").open("wb") as stdout, (out / f"{dataset}.err").open("wb") as err:
        child = subprocess.Popen(command, cwd=REPO, env=env, stdout=stdout, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    said = (out / f"{dataset}.err").read_text()
    assert child.returncode == 0, said[-2000:]
    final = json.loads((out / f"{dataset}.out").read_text())
    return final, usage.ru_maxrss * 1024  # Linux: kilobytes


def test_an_arrow_file_is_put_batch_by_batch_in_bounded_memory(
    flight_daemon: Daemon, tmp_path: Path
) -> None:
    small, big = tmp_path / "small.arrow", tmp_path / "big.arrow"
    _write_arrow_file(small, 10_000, 5_000)
    rows = 2_000_000
    _write_arrow_file(big, rows, 8_000)  # 250 batches
    size = big.stat().st_size
    assert size > 180 * MiB

    _, baseline = _put(flight_daemon, small, "small", tmp_path)
    final, peak = _put(flight_daemon, big, "big", tmp_path)
    assert final["state"] == "succeeded" and final["committed_records"] == rows, final
    grew = peak - baseline
    assert grew < size / 4, f"the put grew by {grew / MiB:.0f} MiB for a {size / MiB:.0f} MiB file"

    records = read_export(str(final["manifest_uri"]))
    assert records.height == rows
    assert records["id"].to_list() == list(range(rows))
    assert records["c7"].to_list() == [7 * i for i in range(rows)]


@pytest.mark.parametrize("how", ["pipe", "redirect"])
def test_an_arrow_file_on_standard_input_is_put_whole(
    flight_daemon: Daemon, tmp_path: Path, how: str
) -> None:
    """A pipe cannot seek to the file's footer (it is read first); a redirected file can."""
    path = tmp_path / "in.arrow"
    _write_arrow_file(path, 30_000, 4_000)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    command = [sys.executable, "-m", "sluice.client.cli.main", "--server", flight_daemon.address]
    command += ["export", "put", "--from", "-", "--to", str(flight_daemon.exports)]
    command += ["--dataset", how, "--format", "arrow", "--chunk-rows", "7000", "--json"]
    with path.open("rb") as source:
        result = subprocess.run(
            command,
            cwd=REPO,
            env=env,
            input=source.read() if how == "pipe" else None,
            stdin=None if how == "pipe" else source,
            capture_output=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    final = json.loads(result.stdout)
    records = read_export(str(final["manifest_uri"]))
    assert records["id"].to_list() == list(range(30_000))
