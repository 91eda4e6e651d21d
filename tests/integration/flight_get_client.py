"""A reading client written with pyarrow.flight alone (no Sluice code), run as its own
process by the Flight tests:

    python flight_get_client.py ADDRESS DATASET EXPORT_ID OUT_DIR

It asks for the flight's info (PATH descriptor) and schema, reads the whole export with
one DoGet into OUT_DIR/whole.parquet, every endpoint's ticket on its own into
OUT_DIR/endpoints.parquet, lists flights and actions and runs the `get` action; it
prints what it learnt as one JSON object. A Flight error is printed as {"error": ...}
and exits 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq


def main() -> int:
    address, dataset, export_id, out = sys.argv[1:5]
    folder = Path(out)
    client = flight.connect(f"grpc://{address}")
    try:
        descriptor = flight.FlightDescriptor.for_path(dataset, export_id)
        info = client.get_flight_info(descriptor)
        schema = client.get_schema(descriptor).schema
        whole = client.do_get(flight.Ticket(json.dumps({"export_id": export_id}))).read_all()
        pq.write_table(whole, folder / "whole.parquet")
        parts = [client.do_get(e.ticket).read_all() for e in info.endpoints]
        pq.write_table(pa.concat_tables(parts), folder / "endpoints.parquet")
        flights = [f.descriptor.path[1].decode() for f in client.list_flights()]
        actions = sorted(a.type for a in client.list_actions())
        body = json.dumps({"export_id": export_id}).encode()
        (got,) = list(client.do_action(flight.Action("get", body)))
    except flight.FlightError as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}), flush=True)
        return 1
    print(
        json.dumps(
            {
                "records": info.total_records,
                "bytes": info.total_bytes,
                "endpoints": [json.loads(e.ticket.ticket) for e in info.endpoints],
                "schema_is_info_schema": schema.equals(info.schema),
                "schema_is_data_schema": schema.equals(whole.schema),
                "flights": flights,
                "actions": actions,
                "get": json.loads(got.body.to_pybytes()),
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
