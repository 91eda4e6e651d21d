"""The parent check of a signed chain (verified_latest_export) on hand-made chains in a
real local folder, signed with a real key: a signed manifest stored in another export's
or another dataset's folder is refused naming the field that differs and both values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sluice.server.committed.chain_signatures import verified_latest_export
from sluice.server.errors import DataLoss
from sluice.server.execution.signing import ManifestSigner
from sluice.sinks import LocalSink

_KEYED = json.loads((Path(__file__).parent / "manifests" / "keyed.json").read_text())
_SIGNER = ManifestSigner(Ed25519PrivateKey.generate())


def _put(root: Path, folder: str, *, export_id: str, dataset: str) -> None:
    manifest = dict(
        _KEYED,
        export_id=export_id,
        dataset=dataset,
        parent_export_id=None,
        finished_at="2025-03-01T12:00:00+00:00",
        created_by="",
    )
    raw = json.dumps(manifest).encode()
    (root / folder).mkdir(parents=True)
    (root / folder / "manifest.json").write_bytes(raw)
    (root / folder / "manifest.json.sig").write_bytes(_SIGNER.sign(raw))


@pytest.mark.parametrize(
    ("export_id", "dataset", "problem"),
    [
        ("B", "events", "holds the signed manifest of export B, not of A"),
        ("A", "events_old", "holds the signed manifest of dataset 'events_old' (export A), "
         "not of 'events'"),
    ],
)  # fmt: skip
def test_a_signed_manifest_of_another_folder_names_what_differs(
    tmp_path: Path, export_id: str, dataset: str, problem: str
) -> None:
    _put(tmp_path, "events/A", export_id=export_id, dataset=dataset)
    with pytest.raises(DataLoss) as refused:
        verified_latest_export(LocalSink(tmp_path), "events", "", (_SIGNER.public_key,))
    # The listing names the export as its (unchecked) manifest does.
    assert str(refused.value) == (
        f"the parent export {export_id} (events/A/manifest.json) {problem}"
    )


def test_the_manifest_of_its_own_folder_is_the_parent(tmp_path: Path) -> None:
    _put(tmp_path, "events/A", export_id="A", dataset="events")
    parent = verified_latest_export(LocalSink(tmp_path), "events", "", (_SIGNER.public_key,))
    assert parent is not None and (parent.export_id, parent.signed) == ("A", True)
