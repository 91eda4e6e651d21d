"""The pyarrow.flight side of benchmarks/flight_bench.py, run as its own process (a
process that imports pyarrow.flight must not load grpcio too: apache/arrow#13300).

    python -m benchmarks.flight_peer serve PARQUET    # prints {"port"}; serves until stdin closes
    python -m benchmarks.flight_peer get ADDRESS TICKET          # prints {"rows", "seconds", ...}
    python -m benchmarks.flight_peer put ADDRESS CMD PARQUET BATCH_ROWS   # {"rows", "seconds", ...}

`serve` is the peer of Sluice's DoGet: pyarrow's own Flight server handing out the table
it holds in memory (any ticket). `get` and `put` are the clients; their clocks start once
the table is in memory, so file reading is not counted.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq


class TableServer(flight.FlightServerBase):  # type: ignore[misc]
    def __init__(self, table: pa.Table) -> None:
        super().__init__("grpc://127.0.0.1:0")
        self._table = table

    def do_get(self, context: Any, ticket: flight.Ticket) -> flight.RecordBatchStream:
        return flight.RecordBatchStream(self._table)


def serve(path: str) -> None:
    server = TableServer(pq.read_table(path))
    print(json.dumps({"port": server.port}), flush=True)
    threading.Thread(target=server.serve, daemon=True).start()
    sys.stdin.read()  # the benchmark closes our stdin when it is done
    server.shutdown()


def get(address: str, ticket: str) -> dict[str, Any]:
    client = flight.connect(f"grpc://{address}")
    started, cpu = time.perf_counter(), time.process_time()
    reader = client.do_get(flight.Ticket(ticket.encode()))
    rows = size = 0
    while True:
        try:
            chunk = reader.read_chunk()
        except StopIteration:
            break
        rows += chunk.data.num_rows
        size += chunk.data.nbytes
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "bytes": size, "cpu": time.process_time() - cpu}


def put(address: str, cmd: str, path: str, batch_rows: int) -> dict[str, Any]:
    table = pq.read_table(path)
    batches = table.to_batches(max_chunksize=batch_rows)
    client = flight.connect(f"grpc://{address}")
    started, cpu = time.perf_counter(), time.process_time()
    writer, reader = client.do_put(flight.FlightDescriptor.for_command(cmd), table.schema)
    first = json.loads(reader.read().to_pybytes())
    if first["committed_records"]:
        raise SystemExit(f"the export already holds rows: {first}")
    final: dict[str, Any] = {}

    def read_acks() -> None:
        while (metadata := reader.read()) is not None:
            ack = json.loads(metadata.to_pybytes())
            if ack.get("state"):
                final.update(ack)
                return

    acks = threading.Thread(target=read_acks)
    acks.start()
    # The end is marked (README, Arrow Flight): an unmarked end commits only after the
    # daemon's 1 s grace, which would be timed here as if the pipeline took it.
    writer.write_metadata(pa.py_buffer(b'{"end_of_records": false}'))
    for batch in batches:
        writer.write_batch(batch)
    writer.write_metadata(pa.py_buffer(b'{"end_of_records": true}'))
    writer.done_writing()
    acks.join()
    writer.close()
    seconds = time.perf_counter() - started
    return {
        "rows": table.num_rows,
        "seconds": seconds,
        "cpu": time.process_time() - cpu,
        "final": final,
    }


def main(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "serve":
        serve(argv[1])
        return
    if mode == "get":
        answer = get(argv[1], argv[2])
    elif mode == "put":
        answer = put(argv[1], argv[2], argv[3], int(argv[4]))
    else:
        raise SystemExit(__doc__)
    print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
