"""verify_export from storage alone: clean, missing, corrupt, truncated and extra objects."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sluice.client.demo_data import generate
from sluice.format.layout import signature_key
from sluice.format.signatures import key_id, signature_document
from sluice.server.committed.verify import verify_export
from sluice.server.errors import DataLoss, NotFound
from sluice.sinks import LocalSink, MemorySink
from sluice.sinks.base import Sink
from tests.unit.exporting import export_to


def _export(tmp_path: Path, sink: Sink) -> str:
    source = generate(tmp_path / "src" / "events.parquet", 3_000, seed=1)
    return export_to(sink, tmp_path, source, "exp-1")


@pytest.fixture(params=["local", "memory"])
def sink(request: pytest.FixtureRequest, tmp_path: Path) -> Sink:
    return LocalSink(tmp_path / "out") if request.param == "local" else MemorySink("verify")


def test_a_clean_export_verifies(tmp_path: Path, sink: Sink) -> None:
    key = _export(tmp_path, sink)
    report = verify_export(sink, key)
    assert report.ok
    assert report.export_id == "exp-1"
    assert report.chunks_checked == 3
    assert report.bytes_checked == sum(info.size for info in sink.list("events/exp-1/part-"))


def test_each_problem_is_reported_exactly(tmp_path: Path) -> None:
    sink = LocalSink(tmp_path / "out")
    key = _export(tmp_path, sink)
    folder = tmp_path / "out" / "events" / "exp-1"
    (folder / "part-000000.jsonl.zst").unlink()
    data = (folder / "part-000001.jsonl.zst").read_bytes()
    (folder / "part-000001.jsonl.zst").write_bytes(data[:10] + bytes([data[10] ^ 1]) + data[11:])
    (folder / "part-000002.jsonl.zst").write_bytes(b"short")
    (folder / "part-000099.jsonl.zst").write_bytes(b"stray")

    report = verify_export(sink, key)
    assert not report.ok
    assert report.missing == ("part-000000.jsonl.zst",)
    assert [(c.path, c.mismatch) for c in report.corrupt] == [
        ("part-000001.jsonl.zst", "sha256"),
        ("part-000002.jsonl.zst", "size"),
    ]
    assert report.extra == ("part-000099.jsonl.zst",)


def test_a_memory_backend_refusing_tampered_bytes_counts_as_corrupt(tmp_path: Path) -> None:
    sink = MemorySink("verify-tamper")
    key = _export(tmp_path, sink)
    sink.tamper("events/exp-1/part-000001.jsonl.zst", b"tampered")
    report = verify_export(sink, key)
    assert [c.path for c in report.corrupt] == ["part-000001.jsonl.zst"]


def test_missing_and_unreadable_manifests(tmp_path: Path) -> None:
    sink = LocalSink(tmp_path / "out")
    with pytest.raises(NotFound):
        verify_export(sink, "events/nope/manifest.json")
    writer = sink.create("events/bad/manifest.json")
    writer.write(b"{not json")
    writer.commit()
    with pytest.raises(DataLoss):
        verify_export(sink, "events/bad/manifest.json")


def test_temporary_files_in_the_export_folder_are_reported(tmp_path: Path) -> None:
    sink = LocalSink(tmp_path / "out")
    key = _export(tmp_path, sink)
    folder = tmp_path / "out" / "events" / "exp-1"
    (folder / "part-000003.jsonl.zst.sluice-tmp-0badf00d").write_bytes(b"half a chunk")
    # Another export's temporary is not this export's business.
    (tmp_path / "out" / "events" / "exp-2").mkdir()
    (tmp_path / "out" / "events" / "exp-2" / "part-000000.jsonl.zst.sluice-tmp-1").write_bytes(b"")

    report = verify_export(sink, key)
    assert not report.ok
    assert report.temporaries == ("part-000003.jsonl.zst.sluice-tmp-0badf00d",)
    assert (report.missing, report.corrupt, report.extra) == ((), (), ())


def test_a_failing_signature_of_an_older_key_names_that_key(tmp_path: Path) -> None:
    """After a rotation, an old key's manifest that fails its check is reported against
    the key its signature names (an accepted one), not the current signing key."""
    sink = LocalSink(tmp_path / "out")
    key = _export(tmp_path, sink)
    new, old = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    manifest = tmp_path / "out" / key
    raw = manifest.read_bytes()
    (tmp_path / "out" / signature_key(key)).write_bytes(
        signature_document(old.public_key(), old.sign(raw))
    )
    keys = (new.public_key(), old.public_key())
    assert verify_export(sink, key, keys).ok
    manifest.write_bytes(raw.replace(b'"exp-1"', b'"exp-1" '))  # edited after signing
    report = verify_export(sink, key, keys)
    assert [(c.path, c.mismatch, c.expected) for c in report.corrupt] == [
        ("manifest.json", "signature", key_id(old.public_key()))
    ]
    # A key it does not accept is named as such; expected stays the signing key's.
    stranger = Ed25519PrivateKey.generate()
    (tmp_path / "out" / signature_key(key)).write_bytes(
        signature_document(stranger.public_key(), stranger.sign(raw))
    )
    report = verify_export(sink, key, keys)
    assert [(c.mismatch, c.expected) for c in report.corrupt] == [
        ("signature", key_id(new.public_key()))
    ]
    assert key_id(stranger.public_key()) in report.corrupt[0].actual
