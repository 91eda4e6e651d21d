"""`sluice serve` with the local Parquet reader's piece size taken from the environment
(BENCH_PARQUET_READ_BATCHES), so read_batches_memory can compare sizes in real daemons
without a setting users would never need."""

from __future__ import annotations

import os

from sluice.client.cli.main import main
from sluice.server.pipeline import reader

if __name__ == "__main__":
    reader.PARQUET_READ_BATCHES = int(os.environ["BENCH_PARQUET_READ_BATCHES"])
    main()
