"""Principals sharing a destination root, through a real daemon: one never puts objects
into another's export folder (`<shared>/<dataset>/<export_id>`), whose creator verifies,
commits and deletes it as a whole. The refusal names the rule, not what exists."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from sluice.client import (
    ExportClient,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon

pytestmark = pytest.mark.integration

ALL = ["exports:create", "exports:read", "exports:cancel", "exports:delete"]
TOKENS = {"alice": "tok-alice-0123456789", "bob": "tok-bob-0123456789"}


@dataclass
class Shared:
    daemon: Daemon
    shared: Path

    def client(self, who: str) -> ExportClient:
        return ExportClient(self.daemon.address, token=TOKENS[who], timeout=30)

    def spec(self, who: str, to: str, dataset: str) -> pb.ExportSpec:
        source = self.daemon.sources / who / "events.parquet"
        pl.DataFrame({"id": [1, 2, 3], "who": [who] * 3}).write_parquet(source)
        return ExportClient.build_spec(source=str(source), to=to, dataset=dataset)

    def export(self, who: str, to: str, dataset: str) -> pb.Export:
        with self.client(who) as client:
            return client.wait(client.create(self.spec(who, to, dataset)).id, timeout=120)

    def refused(self, who: str, to: str, dataset: str) -> InvalidArgumentError:
        with self.client(who) as client, pytest.raises(InvalidArgumentError) as refused:
            client.create(self.spec(who, to, dataset))
        return refused.value


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
                "scopes": ALL,
                "source_roots": [str(daemon.sources / who)],
                "destination_roots": [str(folder)],
            }
            for who, token in TOKENS.items()
        ]
    }
    daemon.start()
    yield Shared(daemon, folder)


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_no_destination_reaches_into_another_principals_export_folder(shared: Shared) -> None:
    alice = shared.export("alice", str(shared.shared), "big")
    assert alice.state == pb.EXPORT_STATE_SUCCEEDED
    folder = shared.shared / "big" / alice.id
    before = _files(folder)
    (shared.shared / "link").symlink_to(folder)
    upper = alice.id.upper()
    attempts = [
        (str(folder), "manifest.json", "spec.destination.uri"),
        (str(folder), "events", "spec.destination.uri"),
        (str(folder / "deeper"), "events", "spec.destination.uri"),
        (str(shared.shared / "link"), "events", "spec.destination.uri"),
        (str(shared.shared / "big"), alice.id, "spec.destination.dataset"),
        (str(shared.shared / "big"), upper, "spec.destination.dataset"),
    ]
    for to, dataset, field in attempts:
        error = shared.refused("bob", to, dataset)
        assert [v.field for v in error.violations] == [field], (to, dataset, error)
        # The rule, never whether an export lies there.
        assert alice.id not in str(error)
        assert "manifest" not in error.message.split("(")[0]
    assert _files(folder) == before
    with shared.client("alice") as client:
        report = client.verify(alice.manifest_uri)
    assert report.ok and not report.extra


def test_a_dataset_may_not_bear_an_export_folders_file_name(shared: Shared) -> None:
    names = [
        "manifest.json",
        "manifest.json.sig",
        "index.arrows",
        "part-000001.jsonl.zst",
        "tombstones.jsonl.zst",
        "report.html",
        "Manifest.JSON",
    ]
    for dataset in names:
        error = shared.refused("bob", str(shared.shared), dataset)
        assert [v.field for v in error.violations] == ["spec.destination.dataset"], dataset
    # Names near the rule still export.
    for dataset in ("report.daily", "parts", "manifests", "20261207"):
        exported = shared.export("bob", str(shared.shared), dataset)
        assert exported.state == pb.EXPORT_STATE_SUCCEEDED, dataset


def test_verify_reports_objects_in_subfolders_by_their_path(shared: Shared) -> None:
    # Put there outside Sluice (or by an older daemon): same names as the export's own
    # files, one folder down. Reported by path under the export folder, never taken for
    # the listed files.
    alice = shared.export("alice", str(shared.shared), "big")
    folder = shared.shared / "big" / alice.id
    chunk = next(p.name for p in folder.iterdir() if p.name.startswith("part-"))
    nested = folder / "x" / "20261207T000000Z-000000000000"
    nested.mkdir(parents=True)
    (nested / "manifest.json").write_text("{}")
    (folder / "x" / chunk).write_bytes(b"not a chunk")
    (folder / "stray.txt").write_text("stray")
    with shared.client("alice") as client:
        report = client.verify(alice.manifest_uri)
    assert not report.ok
    assert sorted(report.extra) == sorted(
        [
            "stray.txt",
            f"x/{chunk}",
            "x/20261207T000000Z-000000000000/manifest.json",
        ]
    )


def test_request_ids_are_each_principals_own(shared: Shared) -> None:
    alice_spec = shared.spec("alice", str(shared.shared), "crm")
    with shared.client("alice") as alice:
        first = alice.create(alice_spec, request_id="nightly-1")
    bob_spec = shared.spec("bob", str(shared.shared), "crm")
    with shared.client("bob") as bob:
        # Neither an oracle of alice's ids (INVALID_ARGUMENT "already used") nor her
        # export: bob's own new one.
        used = bob.create(bob_spec, request_id="nightly-1")
        # Bob claims alice's predictable next id first.
        squatted = bob.create(bob_spec, request_id="nightly-2")
    assert used.id != first.id and squatted.id != used.id
    with shared.client("alice") as alice:
        assert alice.create(alice_spec, request_id="nightly-1").id == first.id
        second = alice.create(alice_spec, request_id="nightly-2")
        assert second.id not in {first.id, used.id, squatted.id}
        assert alice.get(second.id).created_by == "alice"
    with shared.client("bob") as bob:
        assert bob.create(bob_spec, request_id="nightly-2").id == squatted.id


def test_another_principals_manifest_uri_is_answered_as_nothing_there(shared: Shared) -> None:
    alice = shared.export("alice", str(shared.shared), "crm")
    real = alice.manifest_uri
    absent = real.replace(alice.id, "20200101T000000Z-000000000000")
    with shared.client("bob") as bob:
        answers = []
        for uri in (real, absent):
            with pytest.raises(NotFoundError) as raised:
                bob.verify(uri)
            answers.append(raised.value.message.replace(uri, "URI"))
    assert answers[0] == answers[1], answers


def test_a_principal_hashes_only_under_its_own_hash_keys(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    # With alice's key, bob's hashes of his candidate e-mails would match her pseudonyms.
    daemon = daemon_factory("hashing")
    for who in TOKENS:
        (daemon.sources / who).mkdir(parents=True)
    (daemon.sources / "crm.key").write_text("crm hash key 0123456789abcdef\n")
    daemon.settings["hash_keys"] = {"crm": f"file:{daemon.sources / 'crm.key'}"}
    daemon.settings["auth"] = {
        "principals": [
            {
                "name": who,
                "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
                "scopes": ALL,
                "source_roots": [str(daemon.sources / who)],
                "destination_roots": [str(daemon.exports)],
                "hash_keys": ["crm"] if who == "alice" else [],
            }
            for who, token in TOKENS.items()
        ]
    }
    daemon.start()
    shared = Shared(daemon, daemon.exports)
    rule = pb.Redaction(rules=[pb.RedactionRule(column="who", action="hash", key="crm")])
    specs = {}
    for who in TOKENS:
        specs[who] = shared.spec(who, str(daemon.exports), who)
        specs[who].redaction.CopyFrom(rule)
    with shared.client("bob") as bob, pytest.raises(PermissionDeniedError) as denied:
        bob.create(specs["bob"])
    assert "spec.redaction.rules[0].key" in str(denied.value)
    assert "crm" in str(denied.value) and "0123456789" not in str(denied.value)
    with shared.client("alice") as alice:
        done = alice.wait(alice.create(specs["alice"]).id, timeout=120)
    assert done.state == pb.EXPORT_STATE_SUCCEEDED
