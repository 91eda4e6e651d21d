"""Fuzzing through a daemon with principals: a few thousand seeded, malformed requests
sent with a restricted principal's token, an admin's, a wrong one, none, or malformed
authorization metadata. No answer may be INTERNAL or UNKNOWN, and the daemon is still
SERVING at the end."""

from __future__ import annotations

import hashlib
import random
import secrets
from collections import Counter
from collections.abc import Callable

import grpc
import pytest

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from sluice.v1 import export_pb2_grpc
from tests.daemon import Daemon
from tests.integration.fuzzing import RequestFuzzer
from tests.integration.test_fuzz import FORBIDDEN, ORDER, _base_requests

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEED = 1515
REQUESTS_PER_RPC = 160


def test_fuzzed_requests_with_principals_never_answer_internal(
    daemon_factory: Callable[..., Daemon],
) -> None:
    tokens = {"alice": secrets.token_urlsafe(24), "root": secrets.token_urlsafe(24)}

    def digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    daemon = daemon_factory("fuzz-auth", batch_rows=256, max_concurrent_exports=2)
    daemon.settings["auth"] = {
        "principals": [
            {
                "name": "alice",
                "token_sha256": digest(tokens["alice"]),
                "scopes": ["exports:create", "exports:read", "exports:cancel"],
                "source_roots": [str(daemon.sources)],
                "destination_roots": [str(daemon.exports / "alice")],
                "profiles": [],
                "secrets": [],
            },
            {"name": "root", "token_sha256": digest(tokens["root"]), "scopes": ["admin"]},
        ]
    }
    daemon.settings["audit_log"] = str(daemon.root / "audit.jsonl")
    daemon.start()
    source = generate(daemon.sources / "events.parquet", 300, seed=5)
    with ExportClient(daemon.address, token=tokens["root"]) as client:
        keyed = pb.Incremental(key=["id"])
        exports = [
            client.wait(
                client.create(
                    ExportClient.build_spec(
                        source=str(source),
                        to=str(daemon.exports),
                        dataset="fuzz",
                        incremental=keyed,
                    )
                ).id,
                timeout=60,
            )
            for _ in range(2)
        ]
    rng = random.Random(SEED)
    paths = [str(source), str(daemon.exports), exports[0].manifest_uri, str(daemon.sources)]
    fuzzer = RequestFuzzer(rng, paths, [exports[0].id, exports[1].id, "fuzz", "events", "id"])
    bases = _base_requests(daemon, source, exports)
    credentials: list[list[tuple[str, str]]] = [
        [("authorization", f"Bearer {tokens['alice']}")],
        [("authorization", f"Bearer {tokens['root']}")],
        [("authorization", f"Bearer {tokens['alice']}x")],
        [],
        [("authorization", "Bearer")],
        [("authorization", "bearer " + "A" * 5000)],
        [("authorization", "Basic YWxpY2U6c2VjcmV0")],
        [("authorization", "Bearer a b c")],
    ]

    failures: list[str] = []
    seen: Counter[str] = Counter()
    with grpc.insecure_channel(daemon.address) as channel:
        stub = export_pb2_grpc.ExportServiceStub(channel)
        for name in ORDER:
            for number in range(REQUESTS_PER_RPC):
                request = type(bases[name])()
                if number % 2 == 0:
                    request.CopyFrom(bases[name])
                    fuzzer.mutate(request, rng.randint(1, 3))
                else:
                    fuzzer.mutate(request, rng.randint(2, 6))
                metadata = rng.choice(credentials)
                try:
                    _call(stub, name, request, metadata)
                    seen[f"{name} OK"] += 1
                except grpc.RpcError as exc:
                    code = exc.code()  # type: ignore[attr-defined]
                    seen[f"{name} {code.name}"] += 1
                    if code in FORBIDDEN:
                        failures.append(f"{name} #{number}: {code.name} {exc.details()!r:.300}")  # type: ignore[attr-defined]
    print(dict(sorted(seen.items())))
    assert daemon.healthy(), daemon.log_tail()
    assert sum(seen.values()) >= 2000
    assert seen["GetServerInfo UNAUTHENTICATED"] > 0
    # The fuzzed requests reached the service too, not only the authentication.
    assert sum(n for k, n in seen.items() if not k.endswith("UNAUTHENTICATED")) > 400, seen
    assert not failures, "\n".join(failures[:40]) + f"\n{dict(sorted(seen.items()))}"
    audit = (daemon.root / "audit.jsonl").read_text()
    for token in tokens.values():
        assert token not in audit and token not in daemon.log_path.read_text()


def _call(
    stub: export_pb2_grpc.ExportServiceStub,
    name: str,
    request: object,
    metadata: list[tuple[str, str]],
) -> None:
    method = getattr(stub, name)
    if name in {"WatchExport", "DiffExportRecords"}:
        list(method(request, metadata=metadata, timeout=5.0))
    else:
        method(request, metadata=metadata, timeout=5.0)
