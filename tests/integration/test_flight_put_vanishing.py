"""A DoPut client that goes away mid-put never has its export committed: the end of the
records is what the client said (done_writing, or the end_of_records marker), never a
connection that vanished. Each client is a real process (pyarrow.flight alone,
tests/integration/flight_put_client.py); after it vanishes the export waits for a put
with the same requestId (flight_put_idle_timeout, then cancelled), and that put resumes
it from `committed_records`: every row ends up in the export exactly once."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import pytest

from sluice.client import ExportClient
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.integration import flight_helpers
from tests.integration.flight_helpers import command, expected, finish, put
from tests.integration.helpers import load_manifest, read_export

flight_daemon = flight_helpers.flight_daemon
reap_clients = flight_helpers.reap_clients
pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROWS = 60_000
#: Rows sent before a client vanishes "mid-stream" (ROWS: after its last batch, before
#: it ends the stream).
MIDWAY = 24_000
_FINAL = (pb.EXPORT_STATE_SUCCEEDED, pb.EXPORT_STATE_CANCELLED, pb.EXPORT_STATE_FAILED)


def lines_until(
    process: subprocess.Popen[str], key: str, at_least: int = 0
) -> list[dict[str, Any]]:
    """The client's output lines up to the first holding `key` (with a value of at
    least `at_least`)."""
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(json.loads(line))
        if key in seen[-1] and (not at_least or seen[-1][key] >= at_least):
            return seen
    raise AssertionError(f"the client ended before printing {key}: {seen}")


def state_once_settled(daemon: Daemon, export_id: str) -> int:
    """The export's state once it stopped running: a put that vanished leaves it
    waiting flight_put_idle_timeout (4 s here), then cancelled."""
    deadline = time.monotonic() + 60
    with ExportClient(daemon.address) as client:
        while (state := client.get(export_id).state) not in _FINAL:
            assert time.monotonic() < deadline, "the export never settled"
            time.sleep(0.1)
    return state


def resume_exactly_once(daemon: Daemon, cmd: str, export_id: str, *args: str) -> None:
    """Put again with the same requestId: it resumes from the committed rows, and the
    export holds every row once."""
    resumed = finish(put(daemon, cmd, ROWS, "3000", *args))
    assert resumed[0]["export_id"] == export_id
    assert resumed[0]["committed_records"] <= ROWS
    final = resumed[-1]
    assert final["state"] == "succeeded" and final["committed_records"] == ROWS
    records = read_export(final["manifest_uri"])
    assert records["id"].to_list() == list(range(ROWS))
    assert records.equals(expected(ROWS).select(records.columns))
    assert load_manifest(final["manifest_uri"])["totals"]["records"] == ROWS


@pytest.mark.parametrize("marked", [False, True], ids=["plain", "marked"])
def test_a_client_killed_mid_stream_commits_nothing(flight_daemon: Daemon, marked: bool) -> None:
    mark = ("--mark-end",) if marked else ()
    cmd = command(flight_daemon, f"killed-{marked}", chunking={"maxRows": 6_000})
    client = put(flight_daemon, cmd, ROWS, "1000", *mark)
    export_id = lines_until(client, "committed_records", 12_000)[0]["export_id"]
    client.kill()  # SIGKILL while it streams
    client.wait()
    assert state_once_settled(flight_daemon, export_id) == pb.EXPORT_STATE_CANCELLED
    resume_exactly_once(flight_daemon, cmd, export_id, *mark)


@pytest.mark.parametrize(
    ("how", "after"),
    [
        ("kill", MIDWAY),
        ("kill", ROWS),
        ("socket", MIDWAY),
        ("socket", ROWS),
        ("channel", ROWS),
    ],
)
@pytest.mark.parametrize("marked", [False, True], ids=["plain", "marked"])
def test_a_client_that_vanishes_without_ending_its_stream_commits_nothing(
    flight_daemon: Daemon, how: str, after: int, marked: bool
) -> None:
    """Killed, its connection shut, or its Flight client closed, after some rows or
    after its last batch but before done_writing."""
    mark = ("--mark-end",) if marked else ()
    cmd = command(flight_daemon, f"{how}-{after}-{marked}", chunking={"maxRows": 6_000})
    client = put(flight_daemon, cmd, ROWS, "2000", f"--vanish-after={after}:{how}", *mark)
    export_id = lines_until(client, "vanishing")[0]["export_id"]
    assert state_once_settled(flight_daemon, export_id) == pb.EXPORT_STATE_CANCELLED
    client.kill()
    client.wait()
    resume_exactly_once(flight_daemon, cmd, export_id, *mark)


def test_a_marked_put_that_half_closes_early_commits_nothing(flight_daemon: Daemon) -> None:
    """An exception that leaves pyarrow's `with writer:` closes the writer: a clean
    half-close. A put that announced its end marker is broken without it, and the
    client, still there, is told so."""
    cmd = command(flight_daemon, "closed-early", chunking={"maxRows": 6_000})
    client = put(flight_daemon, cmd, ROWS, "2000", f"--vanish-after={MIDWAY}:close", "--mark-end")
    export_id = lines_until(client, "vanishing")[0]["export_id"]
    (error,) = [line for line in lines_until(client, "error") if "error" in line]
    assert "without the end_of_records marker" in error["message"], error
    assert state_once_settled(flight_daemon, export_id) == pb.EXPORT_STATE_CANCELLED
    client.kill()
    client.wait()
    resume_exactly_once(flight_daemon, cmd, export_id, "--mark-end")


def test_a_plain_put_that_half_closes_early_is_taken_at_its_word(flight_daemon: Daemon) -> None:
    """Without the marker a half-close is the end of the records (the contract plain
    Flight clients rely on): the rows sent so far are the export. The README tells
    clients that can fail mid-put to mark their end."""
    cmd = command(flight_daemon, "closed-plain", chunking={"maxRows": 6_000})
    client = put(flight_daemon, cmd, ROWS, "2000", f"--vanish-after={MIDWAY}:close")
    final = lines_until(client, "state")[-1]
    assert final["state"] == "succeeded" and final["committed_records"] == MIDWAY
    assert read_export(final["manifest_uri"])["id"].to_list() == list(range(MIDWAY))
