"""A DoPut client written with pyarrow.flight alone (no Sluice code), run as its own
process by the Flight tests: it pushes a deterministic table and prints every PutResult's
app_metadata as one JSON line, so a test can kill it after some acks.

    python flight_put_client.py ADDRESS CMD_JSON ROWS [BATCH_ROWS] [--hold-after=ROW]
        [--vanish-after=ROW:HOW] [--mark-end]

With --hold-after it stops sending at that row and waits without ending the stream, as a
client that hangs or is about to be killed. With --vanish-after it goes away once it has
sent that row (ROWS: after its last batch), without saying its records ended: HOW is
`kill` (SIGKILL itself), `socket` (shut its TCP connections to the daemon down, then
wait to be killed), `channel` (close the Flight client, then wait) or `close` (end the
stream, done_writing, as pyarrow's writer does when an exception leaves `with writer:`
or the writer is garbage-collected, then read the answers to the last). With --mark-end
it announces that it marks the end of its records and marks it (app_metadata
{"end_of_records": true} on a message after its last batch, README "Arrow Flight"). It
sends from the row the first PutResult names (`committed_records`), as a resuming client
does, and exits 0 after the final PutResult.
"""

from __future__ import annotations

import json
import os
import signal
import socket
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


def shut_sockets_to(address: str) -> int:
    """Shut down (both ways) every TCP connection of this process to `address`, as a
    network that drops the client would; returns how many there were."""
    host, port = address.rsplit(":", 1)
    shut = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            sock = socket.socket(fileno=os.dup(int(name)))
        except OSError:
            continue
        with sock:
            try:
                peer = sock.getpeername()
            except OSError:
                continue
            # gRPC's sockets are IPv6 ones, IPv4 peers mapped (::ffff:127.0.0.1).
            if peer[0] in (host, f"::ffff:{host}") and peer[1] == int(port):
                sock.shutdown(socket.SHUT_RDWR)
                shut += 1
    return shut


def vanish(how: str, address: str, client: flight.FlightClient, writer: object) -> None:
    """Go away without saying the records ended (see --vanish-after)."""
    print(json.dumps({"vanishing": how}), flush=True)
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "socket":
        print(json.dumps({"shut": shut_sockets_to(address)}), flush=True)
    elif how == "channel":
        client.close()
    elif how == "close":
        assert isinstance(writer, flight.FlightStreamWriter)
        writer.done_writing()
        return
    else:
        raise SystemExit(f"unknown --vanish-after way {how!r}")
    time.sleep(3600)


def main() -> int:
    address, cmd, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
    batch_rows = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4].isdigit() else 5000
    hold = [int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--hold-after=")]
    vanishing = [a.split("=", 1)[1].split(":") for a in sys.argv if a.startswith("--vanish-after=")]
    mark_end = "--mark-end" in sys.argv
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
        if mark_end:
            writer.write_metadata(pa.py_buffer(b'{"end_of_records": false}'))
        position = first["committed_records"]
        for batch in data.slice(position).to_batches(max_chunksize=batch_rows):
            if hold and position >= hold[0]:
                time.sleep(3600)
            if vanishing and position >= int(vanishing[0][0]):
                break
            writer.write_batch(batch)
            position += batch.num_rows
        if vanishing:
            vanish(vanishing[0][1], address, client, writer)
        else:
            if mark_end:
                writer.write_metadata(pa.py_buffer(b'{"end_of_records": true}'))
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
