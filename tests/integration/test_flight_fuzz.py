"""Malformed Arrow Flight calls through a daemon with principals: seeded descriptors,
tickets, action bodies, criteria and DoPut streams, sent with a restricted principal's
token, an admin's, a wrong one or none. No answer may be INTERNAL or UNKNOWN, and the
daemon is still SERVING at the end (issue 15's fuzz test, for the Flight service)."""

from __future__ import annotations

import hashlib
import json
import random
import secrets
from collections import Counter
from collections.abc import Callable, Iterator

import grpc
import pytest

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.flight import Flight_pb2 as fl
from sluice.flight import Flight_pb2_grpc
from tests.daemon import Daemon
from tests.integration.test_fuzz import FORBIDDEN

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEED = 1516
CALLS = 1200
_ODD_TEXT = ["", "..", "../../etc/passwd", "\x00", "é" * 300, "a" * 5000, " ", "*", "%s%n"]


class FlightFuzzer:
    """Seeded, mostly-wrong Flight inputs built around a few real export ids."""

    def __init__(self, rng: random.Random, export_ids: list[str]) -> None:
        self._rng = rng
        self._ids = export_ids

    def text(self) -> str:
        rng = self._rng
        return rng.choice([*_ODD_TEXT, *self._ids, rng.choice(self._ids)[:-1] + "x"])

    def value(self, depth: int = 0) -> object:
        rng = self._rng
        kinds: list[Callable[[], object]] = [
            self.text,
            lambda: rng.choice([-1, 0, 1, 2**63, -(2**70), 1.5, float("inf")]),
            lambda: rng.choice([None, True, False]),
        ]
        if depth < 3:
            kinds.append(lambda: [self.value(depth + 1) for _ in range(rng.randint(0, 3))])
            kinds.append(lambda: {self.text(): self.value(depth + 1)})
        return rng.choice(kinds)()

    def body(self) -> bytes:
        """A ticket, command or action body: often JSON of about the right shape."""
        rng = self._rng
        shape = rng.randrange(7)
        if shape == 0:
            return rng.randbytes(rng.randint(0, 64))
        if shape == 1:
            return b"[" * rng.choice([10, 600, 100_000])
        if shape == 2:
            return b'{"export_id": "' + b"x" * rng.choice([10, 1100, 70_000]) + b'"}'
        body: dict[str, object] = {"export_id": rng.choice([self.text(), self.value()])}
        if rng.random() < 0.5:
            body["chunk"] = self.value()
        if rng.random() < 0.2:
            body[self.text()] = self.value()
        try:
            raw = json.dumps(body).encode()
        except ValueError:  # inf in strict mode never happens; NaN-like values do not
            raw = b"{}"
        if rng.random() < 0.2:
            raw = raw[: rng.randint(0, len(raw))]  # cut short
        return raw

    def descriptor(self) -> fl.FlightDescriptor:
        rng = self._rng
        kind = rng.choice([0, 1, 2, 2, 7])  # UNKNOWN, PATH, CMD, and no such type
        descriptor = fl.FlightDescriptor(type=kind)  # type: ignore[arg-type]
        if rng.random() < 0.7:
            descriptor.path.extend(self.text() for _ in range(rng.choice([0, 1, 2, 2, 3, 50])))
        if rng.random() < 0.7:
            descriptor.cmd = self.body()
        return descriptor

    def put_stream(self) -> Iterator[fl.FlightData]:
        rng = self._rng
        count = rng.choice([0, 1, 1, 2, 3])
        for number in range(count):
            message = fl.FlightData(
                data_header=rng.randbytes(rng.randint(0, 40)),
                data_body=rng.randbytes(rng.randint(0, 40)),
            )
            if number == 0 and rng.random() < 0.8:
                message.flight_descriptor.CopyFrom(self.descriptor())
                if rng.random() < 0.5:
                    spec = {"dataset": self.text(), "destination": {"uri": self.text()}}
                    message.flight_descriptor.type = fl.FlightDescriptor.CMD
                    message.flight_descriptor.cmd = json.dumps({"spec": spec}).encode()
            yield message


def test_malformed_flight_calls_with_principals_never_answer_internal(
    daemon_factory: Callable[..., Daemon],
) -> None:
    tokens = {"alice": secrets.token_urlsafe(24), "root": secrets.token_urlsafe(24)}
    daemon = daemon_factory("flight-fuzz", batch_rows=256)
    daemon.settings["auth"] = {
        "principals": [
            {
                "name": "alice",
                "token_sha256": hashlib.sha256(tokens["alice"].encode()).hexdigest(),
                "scopes": ["exports:create", "exports:read", "exports:cancel"],
                "source_roots": [str(daemon.sources)],
                "destination_roots": [str(daemon.exports / "alice")],
            },
            {
                "name": "root",
                "token_sha256": hashlib.sha256(tokens["root"].encode()).hexdigest(),
                "scopes": ["admin"],
            },
        ]
    }
    daemon.start()
    source = generate(daemon.sources / "events.parquet", 200, seed=5)
    (daemon.exports / "alice").mkdir()
    ids = []
    for who in ("alice", "root"):
        with ExportClient(daemon.address, token=tokens[who], timeout=30) as client:
            spec = ExportClient.build_spec(
                source=str(source), to=str(daemon.exports / "alice"), dataset="fuzz"
            )
            ids.append(client.wait(client.create(spec).id, timeout=60).id)
    rng = random.Random(SEED)
    fuzzer = FlightFuzzer(rng, ids)
    credentials: list[list[tuple[str, str]]] = [
        [("authorization", f"Bearer {tokens['alice']}")],
        [("authorization", f"Bearer {tokens['alice']}")],
        [("authorization", f"Bearer {tokens['root']}")],
        [("authorization", f"Bearer {tokens['root']}x")],
        [],
    ]
    calls: dict[
        str, Callable[[Flight_pb2_grpc.FlightServiceStub, list[tuple[str, str]]], object]
    ] = {
        "GetFlightInfo": lambda s, m: s.GetFlightInfo(fuzzer.descriptor(), metadata=m, timeout=10),
        "GetSchema": lambda s, m: s.GetSchema(fuzzer.descriptor(), metadata=m, timeout=10),
        "PollFlightInfo": lambda s, m: s.PollFlightInfo(
            fuzzer.descriptor(), metadata=m, timeout=10
        ),
        "DoGet": lambda s, m: list(
            s.DoGet(fl.Ticket(ticket=fuzzer.body()), metadata=m, timeout=10)
        ),
        "DoAction": lambda s, m: list(
            s.DoAction(
                fl.Action(type=rng.choice(["get", "cancel", *_ODD_TEXT]), body=fuzzer.body()),
                metadata=m,
                timeout=10,
            )
        ),
        "ListFlights": lambda s, m: list(
            s.ListFlights(
                fl.Criteria(expression=rng.choice([b"", fuzzer.body()])), metadata=m, timeout=10
            )
        ),
        "ListActions": lambda s, m: list(s.ListActions(fl.Empty(), metadata=m, timeout=10)),
        "DoPut": lambda s, m: list(s.DoPut(fuzzer.put_stream(), metadata=m, timeout=10)),
        "Handshake": lambda s, m: list(
            s.Handshake(iter([fl.HandshakeRequest(payload=fuzzer.body())]), metadata=m, timeout=10)
        ),
    }
    failures: list[str] = []
    seen: Counter[str] = Counter()
    with grpc.insecure_channel(daemon.address) as channel:
        stub = Flight_pb2_grpc.FlightServiceStub(channel)
        names = sorted(calls)
        for number in range(CALLS):
            name = names[number % len(names)]
            try:
                calls[name](stub, rng.choice(credentials))
                seen[f"{name} OK"] += 1
            except grpc.RpcError as exc:
                code = exc.code()  # type: ignore[attr-defined]
                seen[f"{name} {code.name}"] += 1
                if code in FORBIDDEN:
                    failures.append(f"{name} #{number}: {code.name} {exc.details()!r:.300}")  # type: ignore[attr-defined]
    print(dict(sorted(seen.items())))
    assert daemon.healthy(), daemon.log_tail()
    assert not failures, "\n".join(failures[:40]) + f"\n{dict(sorted(seen.items()))}"
    # The malformed calls got past authentication and were refused by the service.
    assert sum(n for k, n in seen.items() if k.endswith("INVALID_ARGUMENT")) > 200, seen
    assert seen["DoGet UNAUTHENTICATED"] > 0
    for token in tokens.values():
        assert token not in daemon.log_path.read_text()
