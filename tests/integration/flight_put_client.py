"""A DoPut client written with pyarrow.flight alone (no Sluice code), run as its own
process by the Flight tests: it pushes a deterministic table and prints every PutResult's
app_metadata as one JSON line, so a test can kill it after some acks.

    python flight_put_client.py ADDRESS CMD_JSON ROWS [BATCH_ROWS] [--hold-after=ROW]

With --hold-after it stops sending at that row and waits without ending the stream, as a
client that hangs or is about to be killed. It sends from the row the first PutResult
names (`committed_records`), as a resuming client does, and exits 0 after the final
PutResult.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import pyarrow as pa
import pyarrow.flight as flight


def table(rows: int) -> pa.Table:
    """Rows 0..rows-1; every value derives from the id, so a test can rebuild them."""
    ids = pa.array(range(rows), pa.int64())
    return pa.table(
        {
            "id": ids,
            "name": pa.array([f"user-{i}" for i in range(rows)]),
            "email": pa.array([f"user{i}@example.com" for i in range(rows)]),
            "amount": pa.array([i * 0.25 for i in range(rows)], pa.float64()),
        }
    )


def main() -> int:
    address, cmd, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
    batch_rows = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4].isdigit() else 5000
    hold = [int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--hold-after=")]
    data = table(rows)
    client = flight.connect(f"grpc://{address}")
    writer, reader = client.do_put(flight.FlightDescriptor.for_command(cmd), data.schema)
    first = json.loads(reader.read().to_pybytes())
    print(json.dumps(first), flush=True)
    if first.get("state"):  # the export finished earlier: nothing to send
        writer.close()
        return 0 if first["state"] == "succeeded" else 1
    final: dict[str, object] = {}

    def read_acks() -> None:
        while True:
            try:
                metadata = reader.read()
            except flight.FlightError as exc:
                print(json.dumps({"error": type(exc).__name__, "message": str(exc)}), flush=True)
                return
            if metadata is None:
                return
            ack = json.loads(metadata.to_pybytes())
            print(json.dumps(ack), flush=True)
            if ack.get("state"):
                final.update(ack)
                return

    acks = threading.Thread(target=read_acks)
    acks.start()
    try:
        position = first["committed_records"]
        for batch in data.slice(position).to_batches(max_chunksize=batch_rows):
            if hold and position >= hold[0]:
                time.sleep(3600)
            writer.write_batch(batch)
            position += batch.num_rows
        writer.done_writing()
    except (flight.FlightError, pa.ArrowException) as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}), flush=True)
    acks.join()
    try:
        writer.close()
    except (flight.FlightError, pa.ArrowException) as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}), flush=True)
    return 0 if final.get("state") == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
