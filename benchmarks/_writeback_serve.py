"""`sluice serve` with the local sink's early writeback every BENCH_WRITEBACK_MIB MiB
(0: never, as before it was added; sinks.local.WRITEBACK_STEP) and, when
BENCH_COMMIT_LOG is set, each commit's size and seconds appended to that file: the A/B
of the early writeback in real daemons (benchmarks.parquet_daemon_cpu --launcher)."""

from __future__ import annotations

import os
import sys
import time

from sluice.client.cli.main import main
from sluice.sinks import ObjectInfo, local

if __name__ == "__main__":
    step = int(os.environ.get("BENCH_WRITEBACK_MIB", "8")) * 1024 * 1024
    local.WRITEBACK_STEP = step or sys.maxsize
    log = os.environ.get("BENCH_COMMIT_LOG")
    commit = local._LocalWriter.commit

    def timed_commit(self: local._LocalWriter) -> ObjectInfo:
        started = time.perf_counter()
        try:
            return commit(self)
        finally:
            if log:
                with open(log, "a") as out:
                    out.write(f"{self._size} {time.perf_counter() - started:.4f}\n")

    local._LocalWriter.commit = timed_commit  # type: ignore[method-assign]
    main()
