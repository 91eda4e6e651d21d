"""Backpressure of Arrow Flight DoPut: a client (pyarrow.flight, its own process) pushes
5M rows as fast as it can into an export whose sink is slow (S3 through a proxy that
holds every upload), and the daemon holds it back: at most `flight_inflight_batches`
batches wait ahead of the pipeline, and HTTP/2 flow control, with the daemon's fixed
receive window (`grpc_receive_window_bytes`, default 4 MiB), holds the client for the rest.

What the test asserts is how far the client gets ahead of the durable rows: at every
chunk's PutResult, the rows the client had sent minus the rows committed (the client
prints both). That lead is what an unbounded inbox lets grow, and unlike RSS it does not
depend on the allocator or on the machine's load: a full-suite run once saw +525 MiB of
RSS with the default inbox (glibc arenas under three busy test workers) where an idle run
sees +154 to +294. The daemon's peak RSS is still checked against the product's 1 GiB.

The bound is derived from the pipeline's queues (see LEAD_BOUND): 0.71M rows. The
control (`flight_inflight_batches` at its maximum, 256 batches of 16Ki rows: ~85% of the
stream fits in the inbox) proves the bound catches an inbox that does not hold the client
back. Measured (12-05): a lead of 0.46-0.47M rows with the default inbox, 4.5M for the
control; ~20 s per case. With gRPC sizing the receive window itself (its
bandwidth-delay probe) the default inbox's lead was 0.5-1.84M: the window, grown to tens
of MiB, held the difference."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sluice.server.settings import Settings
from tests.integration.flight_flood_client import payload
from tests.servers.cloud import ProfileDaemon, S3Store, read_manifest
from tests.servers.fault_proxy import FaultPlan, FaultProxy
from tests.servers.processes import ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLIENT = Path(__file__).with_name("flight_flood_client.py")
MiB = 1024 * 1024
ROWS = 5_000_000  # ~515 MiB of Arrow records (108 bytes a row)
CHUNK_ROWS = 250_000  # 20 chunks, each held UPLOAD_DELAY by the proxy
UPLOAD_DELAY = 0.5
#: Rows of the client's batches (~1.7 MiB each) and of the daemon's.
BATCH_ROWS = 16_384
#: flight_inflight_batches of the case under test (the daemon's default).
DEFAULT_INFLIGHT = 4
#: Each of the client's batches is ~1.75 MiB of Arrow IPC (112 bytes a row: the int64,
#: the string's offset and its 100 bytes): the batches the client has seen sent while
#: the daemon has not read them are those that fit whole in the receive window.
BATCH_BYTES = BATCH_ROWS * 112
#: The daemon's receive window per stream (its default).
RECEIVE_WINDOW_BYTES = Settings.model_fields["grpc_receive_window_bytes"].default
WINDOW_BATCHES = RECEIVE_WINDOW_BYTES // BATCH_BYTES  # 2
#: Batches that wait between the client and the writer when the writer waits for a
#: commit: the one the put holds while the inbox is full, the inbox, the prefetch queue
#: (2) and the batch its reader thread holds, the rest of the batch a chunk boundary split
#: (RowStream), the batch being encoded (its Segment waiting for room) and the Segment
#: queued for the writer (pipeline_queue_depth 1); then those in the receive window.
QUEUED_BATCHES = 1 + DEFAULT_INFLIGHT + 2 + 1 + 1 + 1 + 1 + WINDOW_BATCHES  # 13
#: Rows the client may lead the durable rows by at a chunk's PutResult. The writer
#: commits one chunk at a time and, at the end of the next one, waits for that commit:
#: when the ack of chunk k is sent, chunk k+1 (written, its commit starting) and the
#: queued batches are ahead of it, 0.46M rows. The client reads the ack a moment later,
#: and meanwhile the pipeline may run on until the writer waits again at the end of
#: chunk k+2 (while k+1's upload is held): one chunk more. So two chunks and the queued
#: batches, 0.71M; the control leads 4.5M.
LEAD_BOUND = 2 * CHUNK_ROWS + QUEUED_BATCHES * BATCH_ROWS
#: The product's memory goal for the daemon, whatever the stream's length.
PEAK_RSS_BOUND = 1024 * MiB
#: flight_inflight_batches at its maximum: 256 batches of 16Ki rows, ~85% of the stream.
CONTROL_INFLIGHT = 256


def _status_bytes(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


class RssSampler:
    """The highest VmRSS of a process, sampled every 50 ms on a thread of its own."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = _status_bytes(pid, "VmRSS:")
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                rss = _status_bytes(self.pid, "VmRSS:")
                self.samples.append(rss)
                self.peak = max(self.peak, rss)
            except (OSError, AssertionError):
                return

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def slow_s3(moto_server: ServerProcess) -> Iterator[tuple[S3Store, FaultProxy]]:
    proxy = FaultProxy(moto_server.port, FaultPlan(put_delay=UPLOAD_DELAY)).start()
    yield S3Store(moto_server.endpoint, proxy.endpoint), proxy
    proxy.stop()


@contextmanager
def _daemon(tmp_path: Path, store: S3Store, inflight: int) -> Iterator[ProfileDaemon]:
    daemon = ProfileDaemon(
        root=tmp_path / "d",
        settings={
            "flight_inflight_batches": inflight,
            "batch_rows": BATCH_ROWS,
            "pipeline_queue_depth": 1,
        },
        profiles={"lake": store.profile},
        environment=store.environment,
    )
    daemon.start()
    try:
        yield daemon
    finally:
        try:
            daemon.stop(timeout=30)
        except Exception:
            daemon.kill()


def _push(daemon: ProfileDaemon, store: S3Store) -> tuple[list[dict[str, object]], int, int]:
    """Push ROWS through the flood client: its acks, the daemon's RSS before the push and
    its peak RSS during it (the higher of the sampled VmRSS and the kernel's VmHWM)."""
    assert daemon.process is not None
    pid = daemon.process.pid
    destination = {"uri": store.root_uri, "dataset": "flood", "profile": "lake"}
    cmd = json.dumps(
        {
            "requestId": "flood",
            "spec": {
                "destination": destination,
                "output": {"format": "parquet"},
                "chunking": {"maxRows": CHUNK_ROWS},
            },
        }
    )
    before = _status_bytes(pid, "VmRSS:")
    with RssSampler(pid) as sampler:
        result = subprocess.run(
            [sys.executable, str(CLIENT), daemon.address, cmd, str(ROWS), str(BATCH_ROWS)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    peak = max(sampler.peak, _status_bytes(pid, "VmHWM:"))
    print("daemon RSS MiB, every second:", [s // MiB for s in sampler.samples[::20]])
    acks = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert result.returncode == 0, (acks[-3:], result.stderr[-2000:])
    return acks, before, peak


def _assert_exported(store: S3Store, final: dict[str, object]) -> None:
    manifest_uri = str(final["manifest_uri"])
    manifest = read_manifest(store, manifest_uri)
    assert [c["records"] for c in manifest["chunks"]] == [CHUNK_ROWS] * (ROWS // CHUNK_ROWS)
    assert manifest["totals"]["records"] == ROWS
    # The last chunk holds the stream's tail, every row as the client made it.
    folder = manifest_uri.removeprefix(store.root_uri + "/").rpartition("/")[0]
    last = pq.read_table(io.BytesIO(store.read(f"{folder}/{manifest['chunks'][-1]['path']}")))
    ids = last["id"].to_pylist()
    assert ids == list(range(ROWS - CHUNK_ROWS, ROWS))
    assert last["payload"].to_pylist()[:32] == [payload(i) for i in ids[:32]]


@pytest.mark.parametrize(
    "inflight",
    [
        pytest.param(DEFAULT_INFLIGHT, id="default-inbox"),
        # The control: an inbox deep enough for ~85% of the stream.
        pytest.param(CONTROL_INFLIGHT, id="control-inbox-holds-the-stream"),
    ],
)
def test_a_slow_sink_holds_the_client_back_and_memory_stays_bounded(
    tmp_path: Path, slow_s3: tuple[S3Store, FaultProxy], inflight: int
) -> None:
    store, proxy = slow_s3
    with _daemon(tmp_path, store, inflight) as daemon:
        started = time.monotonic()
        acks, before, peak = _push(daemon, store)
        seconds = time.monotonic() - started
    final = acks[-1]
    assert final["state"] == "succeeded" and final["committed_records"] == ROWS
    committed = [a["committed_records"] for a in acks[1:-1]]
    assert committed == [CHUNK_ROWS * n for n in range(1, ROWS // CHUNK_ROWS + 1)]
    _assert_exported(store, final)
    # How far the client got ahead of what was durable, at each chunk's ack.
    lead = max(int(a["client_sent"]) - int(a["committed_records"]) for a in acks[1:-1])
    growth = peak - before
    print(
        f"pushed {ROWS} rows in {seconds:.1f}s; daemon RSS {before / MiB:.0f} MiB before, "
        f"peak {peak / MiB:.0f} MiB (+{growth / MiB:.0f} MiB); {proxy.requests} S3 requests; "
        f"the client led the durable rows by {lead:,} rows at most"
    )
    if inflight == CONTROL_INFLIGHT:
        # The bound below would catch an inbox that does not hold the client back.
        assert lead > LEAD_BOUND, f"the control led by {lead:,} rows only"
    else:
        assert lead < LEAD_BOUND, f"the client led the durable rows by {lead:,} rows"
        assert peak < PEAK_RSS_BOUND, f"daemon peak RSS {peak / MiB:.0f} MiB"
