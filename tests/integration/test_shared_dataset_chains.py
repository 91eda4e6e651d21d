"""Principals sharing a destination and dataset, through a real daemon: an incremental
export continues its creator's own chain, never another principal's (whose keys would
pass into its tombstones, whose watermark would skip its rows and show in its
`incremental.since`, and whose exports its report would list)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
import zstandard

from sluice.client import ExportClient
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon

pytestmark = pytest.mark.integration

ALL = ["exports:create", "exports:read", "exports:cancel", "exports:delete"]
TOKENS = {
    "alice": "tok-alice-0123456789",
    "bob": "tok-bob-0123456789",
    "root": "tok-root-0123456789",
}
ALICE_EMAILS = ["alice.sentinel@example.com", "carol.sentinel@example.org"]


@dataclass
class Shared:
    daemon: Daemon
    shared: Path

    def client(self, who: str) -> ExportClient:
        return ExportClient(self.daemon.address, token=TOKENS[who], timeout=30)

    def spec(
        self, who: str, rows: pl.DataFrame, incremental: pb.Incremental, level: str = ""
    ) -> pb.ExportSpec:
        source = self.daemon.sources / who / "crm.parquet"
        rows.write_parquet(source)
        return ExportClient.build_spec(
            source=str(source),
            to=str(self.shared),
            dataset="crm",
            incremental=incremental,
            redaction=pb.Redaction(level=level),
            report=True,
        )

    def export(self, who: str, rows: pl.DataFrame, **incremental: object) -> pb.Export:
        spec = self.spec(who, rows, pb.Incremental(**incremental))  # type: ignore[arg-type]
        with self.client(who) as client:
            return client.wait(client.create(spec).id, timeout=120)

    def folder(self, export: pb.Export) -> Path:
        return self.shared / "crm" / export.id

    def manifest(self, export: pb.Export) -> dict[str, object]:
        return json.loads((self.folder(export) / "manifest.json").read_text())  # type: ignore[no-any-return]

    def stored_text(self, export: pb.Export) -> str:
        """Every file of the export, decompressed where it is zstd."""
        texts = []
        for path in sorted(self.folder(export).iterdir()):
            body = path.read_bytes()
            if path.name.endswith(".zst"):
                body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
            texts.append(body.decode("utf-8", "replace"))
        return "\n".join(texts)


@pytest.fixture
def shared(daemon_factory) -> Iterator[Shared]:  # type: ignore[no-untyped-def]
    daemon = daemon_factory("shared")
    folder = daemon.exports / "shared"
    folder.mkdir(parents=True)
    for who in TOKENS:
        (daemon.sources / who).mkdir(parents=True)
    daemon.settings["auth"] = {
        "principals": [
            {
                "name": who,
                "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
                "scopes": [*ALL, "admin"] if who == "root" else ALL,
                "source_roots": [str(daemon.sources / who)],
                "destination_roots": [str(folder)],
            }
            for who, token in TOKENS.items()
        ]
    }
    daemon.start()
    yield Shared(daemon, folder)


def _alice_rows() -> pl.DataFrame:
    return pl.DataFrame({"email": ALICE_EMAILS, "v": [1, 2]})


def test_a_keyed_increment_never_continues_another_principals_chain(shared: Shared) -> None:
    alice = shared.export("alice", _alice_rows(), mode="full", key=["email"])
    bob = shared.export(
        "bob", pl.DataFrame({"email": ["nobody@x.io"], "v": [0]}), mode="incremental", key=["email"]
    )
    assert bob.state == pb.EXPORT_STATE_SUCCEEDED
    manifest = shared.manifest(bob)
    # Bob's first increment is the first of his own chain: his one row, no tombstones.
    assert manifest["parent_export_id"] is None
    assert manifest["tombstones"] is None
    assert manifest["totals"]["records"] == 1  # type: ignore[index]
    stored = shared.stored_text(bob)
    assert not any(email in stored for email in ALICE_EMAILS)
    assert alice.id not in stored
    # Alice's next increment continues her own chain, although bob's export is newer.
    again = shared.export("alice", _alice_rows().head(1), mode="incremental", key=["email"])
    assert shared.manifest(again)["parent_export_id"] == alice.id
    assert shared.manifest(again)["tombstones"]["records"] == 1  # type: ignore[index]


def test_a_cursor_increment_never_takes_another_principals_watermark(shared: Shared) -> None:
    shared.export("alice", _alice_rows().with_columns(n=pl.Series([50, 60])), cursor="n")
    bob_rows = pl.DataFrame({"email": ["nobody@x.io", "other@x.io"], "v": [0, 1], "n": [1, 2]})
    bob = shared.export("bob", bob_rows, mode="incremental", cursor="n")
    manifest = shared.manifest(bob)
    assert manifest["parent_export_id"] is None
    assert manifest["incremental"]["since"] is None  # type: ignore[index]
    assert manifest["totals"]["records"] == 2  # type: ignore[index]  # none skipped
    assert manifest["watermark"]["value"] == 2  # type: ignore[index]
    report = (shared.folder(bob) / "report.html").read_text()
    assert not any(email in report for email in ALICE_EMAILS)


def _numbered(*n: int) -> pl.DataFrame:
    return pl.DataFrame({"email": [f"u{i}@x.io" for i in n], "v": list(n), "n": list(n)})


def test_an_admin_continues_only_its_own_chain(shared: Shared) -> None:
    shared.export("alice", _alice_rows().with_columns(n=pl.Series([50, 60])), cursor="n")
    root = shared.export("root", _numbered(1, 2), mode="incremental", cursor="n")
    # Seeing every export does not make alice's the admin's parent.
    assert shared.manifest(root)["parent_export_id"] is None
    assert shared.manifest(root)["totals"]["records"] == 2  # type: ignore[index]
    shared.export("alice", _alice_rows().with_columns(n=pl.Series([70, 80])), cursor="n")
    again = shared.export("root", _numbered(1, 2, 3), mode="incremental", cursor="n")
    assert shared.manifest(again)["parent_export_id"] == root.id
    assert shared.manifest(again)["totals"]["records"] == 1  # type: ignore[index]


def test_a_schedule_is_planned_and_runs_as_the_server_not_its_creator(shared: Shared) -> None:
    # The admin's own keyed chain, redacted: a schedule checked or run as the admin would
    # continue it (and be refused for asking for another redaction).
    own = shared.spec(
        "root", _numbered(1, 2), pb.Incremental(mode="full", key=["email"]), "moderate"
    )
    with shared.client("root") as client:
        mine = client.wait(client.create(own).id, timeout=120)
        scheduled = shared.spec(
            "root", _numbered(1, 2, 3), pb.Incremental(mode="incremental", key=["email"])
        )
        client.create_schedule("nightly-crm", scheduled, cron="0 2 * * *")
        first = client.wait(client.trigger_schedule("nightly-crm").id, timeout=120)
        second = client.wait(client.trigger_schedule("nightly-crm").id, timeout=120)
    assert first.state == second.state == pb.EXPORT_STATE_SUCCEEDED
    manifest = shared.manifest(first)
    assert "created_by" not in manifest  # the server's own ("")
    assert manifest["parent_export_id"] is None  # not the admin's export
    assert manifest["totals"]["records"] == 3  # type: ignore[index]
    assert shared.manifest(second)["parent_export_id"] == first.id
    assert shared.manifest(mine)["created_by"] == "root"


def _key_digests(shared: Shared, export: pb.Export) -> set[bytes]:
    index = pl.read_ipc_stream(shared.folder(export) / "index.arrows")
    return set(index.get_column("key_digest").to_list())


def test_key_digests_of_one_principal_never_match_anothers(shared: Shared) -> None:
    # Alice's strictly redacted keyed export hides her e-mails; bob, who can read the
    # shared folder, exports candidate e-mails of his own: with one daemon-wide index
    # key, equal key digests would tell him which candidates alice's export holds.
    spec = shared.spec("alice", _alice_rows(), pb.Incremental(mode="full", key=["email"]), "strict")
    with shared.client("alice") as client:
        alice = client.wait(client.create(spec).id, timeout=120)
    candidates = pl.DataFrame({"email": [*ALICE_EMAILS, "nobody@x.io"], "v": [1, 2, 3]})
    bob = shared.export("bob", candidates, mode="full", key=["email"])
    assert alice.state == bob.state == pb.EXPORT_STATE_SUCCEEDED
    assert len(_key_digests(shared, alice)) == 2 and len(_key_digests(shared, bob)) == 3
    assert not _key_digests(shared, alice) & _key_digests(shared, bob)
    alice_index = shared.manifest(alice)["key_index"]
    bob_index = shared.manifest(bob)["key_index"]
    assert alice_index["key_id"] != bob_index["key_id"]  # type: ignore[index]
    # Alice's own chain still compares under its keys: one row changed, none re-sent.
    rows = _alice_rows().with_columns(v=pl.Series([1, 9]))
    spec = shared.spec("alice", rows, pb.Incremental(mode="incremental", key=["email"]), "strict")
    with shared.client("alice") as client:
        again = client.wait(client.create(spec).id, timeout=120)
    changes = shared.manifest(again)["incremental"]["changes"]  # type: ignore[index]
    assert (changes["updated"], changes["unchanged"], changes["inserted"]) == (1, 1, 0)
