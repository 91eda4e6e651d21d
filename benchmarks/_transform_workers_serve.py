"""`sluice serve` with the pipeline's query+redaction workers taken from the environment
(BENCH_TRANSFORM_WORKERS; 1 is the serial stage), and with BENCH_TRANSFORM_ALWAYS=1 the
workers used without redaction too, so transform_workers_ab can compare them in real
daemons without a setting users would never need."""

from __future__ import annotations

import os

from sluice.client.cli.main import main
from sluice.server.pipeline import export, stages

if __name__ == "__main__":
    export._TRANSFORM_WORKERS = int(os.environ["BENCH_TRANSFORM_WORKERS"])
    if os.environ.get("BENCH_TRANSFORM_ALWAYS") == "1":
        stages.NoRedaction.rewrites = property(lambda _self: True)  # type: ignore[assignment,method-assign]
    main()
