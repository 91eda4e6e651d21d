"""Broken puts waiting for a resume are bounded per principal
(flight_parked_puts_per_principal, server.flight.parked_puts). A put that breaks
without its end leaves its export running, holding a run slot for
flight_put_idle_timeout so its caller may resume it: a caller breaking two puts took
both of the daemon's slots for ten minutes and every other export waited behind them.
Clients are pyarrow.flight alone (tests/integration/flight_put_client.py), each killing
itself mid-stream."""

from __future__ import annotations

import time

import pytest

from sluice.client import ExportClient
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.integration import flight_helpers
from tests.integration.flight_helpers import command, expected, finish, put
from tests.integration.helpers import read_export
from tests.integration.test_flight_put_vanishing import MIDWAY, ROWS, lines_until

reap_clients = flight_helpers.reap_clients
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _broken_put(daemon: Daemon, request_id: str) -> tuple[str, str]:
    """A put killed (SIGKILL) after MIDWAY rows, before its end: its command and export."""
    cmd = command(daemon, request_id, chunking={"maxRows": 6_000})
    client = put(daemon, cmd, ROWS, "2000", f"--vanish-after={MIDWAY}:kill")
    export_id = str(lines_until(client, "vanishing")[0]["export_id"])
    client.wait()
    return cmd, export_id


def _exported_whole(acks: list[dict[str, object]], export_id: str | None = None) -> None:
    final = acks[-1]
    assert final["state"] == "succeeded" and final["committed_records"] == ROWS, acks[-3:]
    if export_id is not None:
        assert acks[0]["export_id"] == export_id
    records = read_export(str(final["manifest_uri"]))
    assert records["id"].to_list() == list(range(ROWS))
    assert records.equals(expected(ROWS).select(records.columns))


def test_broken_puts_beyond_the_limit_free_their_run_slot_and_still_resume(
    daemon_factory,  # type: ignore[no-untyped-def]
) -> None:
    daemon = daemon_factory(
        "parked",
        batch_rows=2048,
        max_concurrent_exports=2,
        flight_put_idle_timeout=600.0,
        flight_parked_puts_per_principal=1,
    )
    daemon.start()
    broken = dict(_broken_put(daemon, f"broken-{n}") for n in range(2))

    # One parks (running, waiting for its resume); the other ends at once, its slot free.
    deadline = time.monotonic() + 120
    with ExportClient(daemon.address) as client:
        while True:
            exports = {cmd: client.get(export_id) for cmd, export_id in broken.items()}
            failed = [c for c, e in exports.items() if e.state == pb.EXPORT_STATE_FAILED]
            if failed:
                break
            assert time.monotonic() < deadline, {c: e.state for c, e in exports.items()}
            time.sleep(0.2)
    (ended,) = failed
    (parked,) = [cmd for cmd in broken if cmd != ended]
    assert exports[parked].state == pb.EXPORT_STATE_RUNNING
    error = exports[ended].error
    assert error.code == "RESOURCE_EXHAUSTED", error
    assert "flight_parked_puts_per_principal" in error.message, error
    assert "same requestId resumes it" in error.message, error

    # Another export runs meanwhile (before, both slots waited ten minutes for resumes).
    _exported_whole(finish(put(daemon, command(daemon, "other"), ROWS, "5000")))

    # Both broken puts resume from their committed rows: every row once.
    for cmd in (ended, parked):
        _exported_whole(finish(put(daemon, cmd, ROWS, "3000")), broken[cmd])
    assert daemon.healthy()
