"""A DoPut client written with pyarrow.flight alone (no Sluice code), run as its own
process by the Flight tests: it puts one small batch of a column of type CASE, COUNT
times (each with a new requestId), and prints one JSON line per put: the final
PutResult's state and committed_records, or the error's gRPC status code and message.

    python flight_typed_put_client.py ADDRESS EXPORTS_URI CASE[:COUNT] [CASE[:COUNT] ...]

Every call has a 120 s deadline: a put the daemon leaves hanging ends as
DEADLINE_EXCEEDED instead of holding the test.
"""

from __future__ import annotations

import decimal
import json
import sys
import uuid
from collections.abc import Callable

import pyarrow as pa
import pyarrow.flight as flight

_ROWS = 5
_CASES: dict[str, Callable[[], pa.RecordBatch]] = {
    "int64": lambda: pa.record_batch({"a": pa.array(range(_ROWS))}),
    # pyarrow sends the dictionary in a message of its own, which a put refuses.
    "dictionary": lambda: pa.record_batch(
        {"a": pa.array(["x", "y", "x", None, "z"]).dictionary_encode()}
    ),
    "sparse_union": lambda: pa.record_batch(
        {
            "a": pa.UnionArray.from_sparse(
                pa.array([0, 1, 0, 1, 0], pa.int8()),
                [pa.array(range(_ROWS)), pa.array(["s"] * _ROWS)],
            )
        }
    ),
    "run_end_encoded": lambda: pa.record_batch(
        {"a": pa.RunEndEncodedArray.from_arrays(pa.array([2, 5], pa.int32()), ["x", "y"])}
    ),
    "list_view": lambda: pa.record_batch(
        {"a": pa.array([[1, 2], None, [], [3], [4]], pa.list_view(pa.int64()))}
    ),
    # Polars panics importing this type (a BaseException, not an Exception).
    "month_day_nano": lambda: pa.record_batch(
        {"a": pa.array([(1, 2, 3)] * _ROWS, pa.month_day_nano_interval())}
    ),
    "decimal256": lambda: pa.record_batch(
        {"a": pa.array([decimal.Decimal("1.23")] * _ROWS, pa.decimal256(50, 2))}
    ),
}
_CODES = {
    flight.FlightTimedOutError: "DEADLINE_EXCEEDED",
    flight.FlightInternalError: "INTERNAL",
    flight.FlightUnavailableError: "UNAVAILABLE",
    flight.FlightCancelledError: "CANCELLED",
}


def put(client: flight.FlightClient, exports: str, case: str) -> dict[str, object]:
    batch = _CASES[case]()
    cmd = json.dumps(
        {
            "requestId": f"{case}-{uuid.uuid4().hex}",
            "spec": {"destination": {"uri": exports, "dataset": case.replace("_", "-")}},
        }
    )
    options = flight.FlightCallOptions(timeout=120)
    try:
        writer, reader = client.do_put(
            flight.FlightDescriptor.for_command(cmd), batch.schema, options
        )
        writer.write_batch(batch)
        writer.done_writing()
        last: dict[str, object] = {}
        while (metadata := reader.read()) is not None:
            last = json.loads(metadata.to_pybytes())
        writer.close()
        committed = last.get("committed_records")
        return {"case": case, "state": last.get("state"), "committed": committed}
    except pa.ArrowInvalid as exc:  # what pyarrow raises for INVALID_ARGUMENT
        return {"case": case, "code": "INVALID_ARGUMENT", "message": str(exc).splitlines()[0]}
    except flight.FlightError as exc:
        code = next((c for t, c in _CODES.items() if isinstance(exc, t)), type(exc).__name__)
        return {"case": case, "code": code, "message": str(exc).splitlines()[0]}


def main() -> int:
    address, exports = sys.argv[1], sys.argv[2]
    client = flight.connect(f"grpc://{address}")
    for arg in sys.argv[3:]:
        case, _, count = arg.partition(":")
        for _ in range(int(count or 1)):
            print(json.dumps(put(client, exports, case)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
