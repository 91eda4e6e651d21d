"""A DoPut export held open by the test: it takes one export slot of the daemon its
records arrive at (a DoPut export runs there, waiting for them) and keeps it for exactly
as long as the test wants, however fast the machine is. Tests that need a busy daemon
use it rather than a large export that a fast machine finishes before the next step."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from sluice.client import ExportClient
from sluice.v1 import export_pb2 as pb

#: While held, one one-row batch this often: the export is held, never idle (a DoPut
#: export without a batch for flight_put_idle_timeout ends as cancelled).
_KEEPALIVE_SECONDS = 0.5


class HeldPut:
    """`with HeldPut(address, spec, request_id) as held:` returns once the export runs
    on that daemon; `held.release()` ends the stream and returns the final PutResult."""

    def __init__(self, address: str, spec: pb.ExportSpec, request_id: str) -> None:
        self.address = address
        self.spec = spec
        self.request_id = request_id
        #: Rows sent so far: ids 0..rows-1, one per keep-alive batch.
        self.rows = 0
        self.export_id = ""
        self._outcome: dict[str, Any] = {}
        self._error: BaseException | None = None
        self._release = threading.Event()
        self._answered = threading.Event()
        self._thread = threading.Thread(target=self._put, name="held-put", daemon=True)

    def _batches(self) -> Iterator[pa.RecordBatch]:
        while True:
            yield pa.record_batch({"id": pa.array([self.rows], pa.int64())})
            self.rows += 1
            if self._release.wait(_KEEPALIVE_SECONDS):
                return

    def _acknowledged(self, ack: dict[str, Any]) -> None:
        self.export_id = str(ack["export_id"])
        self._answered.set()

    def _put(self) -> None:
        try:
            with ExportClient(self.address) as client:
                self._outcome = client.put(
                    self.spec,
                    self._batches(),
                    self.request_id,
                    attempts=1,
                    on_ack=self._acknowledged,
                )
        except BaseException as exc:  # handed to the test thread by release()
            self._error = exc
            self._answered.set()

    def __enter__(self) -> HeldPut:
        self._thread.start()
        assert self._answered.wait(60), "the put was never answered"
        if self._error is not None:
            raise self._error
        deadline = time.monotonic() + 60
        with ExportClient(self.address) as client:
            while client.get(self.export_id).state != pb.EXPORT_STATE_RUNNING:
                assert time.monotonic() < deadline, "the held put's export never ran"
                time.sleep(0.05)
        return self

    def release(self) -> dict[str, Any]:
        """End the stream; the export then commits what it holds and succeeds."""
        self._release.set()
        self._thread.join(120)
        assert not self._thread.is_alive(), "the held put did not end"
        if self._error is not None:
            raise self._error
        return self._outcome

    def __exit__(self, *_exc: object) -> None:
        self._release.set()
        self._thread.join(120)
