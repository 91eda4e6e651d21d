"""Two replicas on one PostgreSQL store racing to commit a signed export: the replica
that lost its lease while writing manifest.json.sig must not replace the signature of
the manifest the new holder committed (the export would then read as edited)."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.format.signatures import verify
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.servers.postgres import PostgresServer
from tests.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FINAL = {pb.EXPORT_STATE_SUCCEEDED, pb.EXPORT_STATE_FAILED, pb.EXPORT_STATE_CANCELLED}


class _HeldKey:
    """A signing key served through a FIFO: once `armed`, the replica's next read of it
    (at its signature step, all chunks journalled) blocks until `released`."""

    def __init__(self, path: Path, key: bytes) -> None:
        self.path = path
        self.key = key
        self.armed = threading.Event()
        self.reached = threading.Event()
        self.released = threading.Event()
        os.mkfifo(path, 0o600)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            fd = os.open(self.path, os.O_WRONLY)  # returns once the replica opens it
            if self.armed.is_set():
                self.reached.set()
                self.released.wait()
            os.write(fd, self.key)
            os.close(fd)
            # Let the reader close its end: an open of ours while it still reads would
            # add a second copy of the key to what it reads.
            time.sleep(0.5)


def _run_ended(log: str, export_id: str) -> bool:
    return any(
        export_id in line and ("lease" in line or "succeeded" in line) for line in log.splitlines()
    )


def test_a_replica_past_its_lease_leaves_the_winners_signature(
    daemon_factory: Callable[..., Daemon], postgres_server: PostgresServer, tmp_path: Path
) -> None:
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    key_text = base64.b64encode(seed) + b"\n"
    key_file = tmp_path / "sign.key"
    key_file.write_bytes(key_text)
    key_file.chmod(0o600)
    sources, exports = tmp_path / "shared" / "sources", tmp_path / "shared" / "exports"
    sources.mkdir(parents=True)
    exports.mkdir(parents=True)
    common: dict[str, object] = {
        "job_store": postgres_server.new_database(),
        "allowed_roots": [str(exports)],
        "allowed_source_roots": [str(sources)],
        "job_lease_seconds": 3,
    }
    held = _HeldKey(tmp_path / "sign.fifo", key_text)
    a = daemon_factory("a", replica_id="a", manifest_signing_key=f"file:{held.path}", **common)
    b = daemon_factory("b", replica_id="b", manifest_signing_key=f"file:{key_file}", **common)
    a.start(timeout=180)
    generate(sources / "events.parquet", 20_000, seed=1)
    spec = ExportClient.build_spec(
        source=str(sources / "events.parquet"), to=str(exports), dataset="events", chunk_rows=5000
    )
    held.armed.set()
    with ExportClient(a.address) as client:
        export_id = client.create(spec).id
    assert held.reached.wait(300), "replica a never reached its signature"
    b.start(timeout=180)
    assert a.process is not None
    trace = tmp_path / "strace.txt"
    # A's next directory listing (is a manifest there yet?) returns "no" and then stays
    # in the kernel for 60 s: A is stopped there, past its lease, before it signs.
    strace = subprocess.Popen(
        ["strace", "-f", "-p", str(a.process.pid), "-e", "trace=getdents64",
         "-e", "inject=getdents64:delay_exit=60000000:when=1", "-o", str(trace)]
    )  # fmt: skip
    try:
        until(lambda: trace.exists(), "strace attached", within=60)
        held.released.set()
        until(lambda: "getdents64(" in trace.read_text(), "a listed", within=60)
        os.kill(a.process.pid, signal.SIGSTOP)
        with ExportClient(b.address) as client:
            deadline = time.monotonic() + 300
            while (export := client.get(export_id)).state not in FINAL:
                assert time.monotonic() < deadline, f"not final: {export}"
                time.sleep(0.2)
        assert export.state == pb.EXPORT_STATE_SUCCEEDED
        folder = exports / "events" / export_id
        manifest = (folder / "manifest.json").read_bytes()
        verify(manifest, (folder / "manifest.json.sig").read_bytes(), private.public_key())
    finally:
        logged = len(a.log_path.read_text())
        strace.terminate()
        strace.wait(30)
        os.kill(a.process.pid, signal.SIGCONT)
    # A finishes its listing and goes on: its run must end without touching the commit.
    until(lambda: _run_ended(a.log_path.read_text()[logged:], export_id), "a ended", within=180)
    a.stop()
    assert (folder / "manifest.json").read_bytes() == manifest
    verify(manifest, (folder / "manifest.json.sig").read_bytes(), private.public_key())
