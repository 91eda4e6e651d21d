"""The parents an export's report lists: only as far as they share its creator. A chain
made before parents were picked by creator can reach into another principal's exports
(the catalog's creator filter cannot help there: the parent ids are already recorded)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sluice.format.layout import manifest_key
from sluice.format.manifest import Manifest
from sluice.server.execution.documents import _parents
from sluice.sinks.base import join_key
from sluice.sinks.memory import MemorySink

_KEYED = Path(__file__).parent / "manifests" / "keyed.json"


def _stored(sink: MemorySink, base: Manifest, export_id: str, parent: str, by: str) -> Manifest:
    manifest = replace(base, export_id=export_id, parent_export_id=parent or None, created_by=by)
    writer = sink.create(manifest_key(join_key(manifest.dataset, export_id)), overwrite=False)
    writer.write(manifest.to_json())
    writer.commit()
    return manifest


def test_the_report_stops_at_another_creators_parent() -> None:
    sink = MemorySink("report")
    base = Manifest.from_json(_KEYED.read_bytes())
    _stored(sink, base, "20250101T000000Z-000000000001", "", "bob")
    _stored(sink, base, "20250102T000000Z-000000000002", "20250101T000000Z-000000000001", "bob")
    # Alice's export continued bob's chain (an export made before parents were picked by
    # creator), and hers continues that one.
    alice_1 = _stored(
        sink, base, "20250103T000000Z-000000000003", "20250102T000000Z-000000000002", "alice"
    )
    alice_2 = _stored(sink, base, "20250104T000000Z-000000000004", alice_1.export_id, "alice")
    assert [m.export_id for m in _parents(sink, alice_2)] == [alice_1.export_id]
    # The server's own exports ("") are a creator like any other.
    server = _stored(sink, base, "20250105T000000Z-000000000005", alice_2.export_id, "")
    assert _parents(sink, server) == ()
