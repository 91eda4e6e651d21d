"""A DoPut client written with pyarrow.flight alone (no Sluice code), run as its own
process by the backpressure test: it pushes ROWS narrow rows as fast as the daemon takes
them and prints every PutResult's app_metadata as one JSON line, with `client_sent`: the
rows it had handed to the stream when that PutResult arrived.

    python flight_flood_client.py ADDRESS CMD_JSON ROWS [BATCH_ROWS]

Each row is an int64 `id` (0, 1, ...) and a 100-byte `payload` drawn from 16 values, so
the records weigh ~108 bytes each in Arrow but compress to almost nothing (a slow sink
stores little). Batches are made as they are sent: the client's own memory stays small
whatever ROWS is. Exits 0 after the final PutResult says "succeeded".
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight

PAYLOAD_BYTES = 100
SCHEMA = pa.schema([("id", pa.int64()), ("payload", pa.string())])


def payload(row: int) -> str:
    """The payload of row `row` (a test rebuilds it from the id)."""
    return f"{row % 16:x}" * PAYLOAD_BYTES


def batches(rows: int, batch_rows: int) -> Iterator[pa.RecordBatch]:
    template = pa.array([payload(i) for i in range(batch_rows)], pa.string())
    ids = pa.array(range(batch_rows), pa.int64())
    for start in range(0, rows, batch_rows):
        size = min(batch_rows, rows - start)
        # batch_rows is a multiple of 16, so the template's payloads match the ids.
        yield pa.record_batch(
            [pc.add(ids.slice(0, size), start), template.slice(0, size)], schema=SCHEMA
        )


def main() -> int:
    address, cmd, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
    batch_rows = int(sys.argv[4]) if len(sys.argv) > 4 else 65_536
    assert batch_rows % 16 == 0
    client = flight.connect(f"grpc://{address}")
    writer, reader = client.do_put(flight.FlightDescriptor.for_command(cmd), SCHEMA)
    first = json.loads(reader.read().to_pybytes())
    print(json.dumps(first), flush=True)
    assert first["committed_records"] == 0, first
    final: dict[str, object] = {}
    sent = [0]

    def read_acks() -> None:
        while (metadata := reader.read()) is not None:
            ack = json.loads(metadata.to_pybytes())
            print(json.dumps({**ack, "client_sent": sent[0]}), flush=True)
            if ack.get("state"):
                final.update(ack)
                return

    acks = threading.Thread(target=read_acks)
    acks.start()
    for batch in batches(rows, batch_rows):
        writer.write_batch(batch)
        sent[0] += batch.num_rows
    writer.done_writing()
    acks.join()
    writer.close()
    return 0 if final.get("state") == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
