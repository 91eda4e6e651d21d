"""Key indexes are made under their chain's own keys (creator and dataset), and a chain
begun under the daemon-wide keys of earlier versions continues under those: its parent's
digests compare only under the keys they were made with. Real planner, key pass, index
and manifests on a local folder; the "old daemon" is the v1 derivation it used."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from sluice.server.errors import FailedPrecondition
from sluice.server.execution.key_changes import KeyedChanges, chain_index_keys, detect_changes
from sluice.server.execution.manifest_writer import build_manifest, write_manifest
from sluice.server.execution.run_facts import RunFacts, check_same
from sluice.server.keyindex.digests import IndexKeys
from sluice.server.planning.plan import ExportPlan, build_plan
from sluice.server.planning.spec import DestinationSpec, ExportSpec, IncrementalSpec, SourceSpec
from sluice.server.settings import load_settings
from sluice.sinks import LocalSink

BASE = b"index-base-key-0123456789abcdef!"
OWNER = "alice"


def _plan(root: Path, export_id: str, rows: pl.DataFrame, mode: str) -> ExportPlan:
    source = root / "sources" / "crm.parquet"
    source.parent.mkdir(parents=True, exist_ok=True)
    rows.write_parquet(source)
    settings = load_settings(
        None,
        {
            "state_dir": root / "state",
            "allowed_roots": [root / "exports"],
            "allowed_source_roots": [source.parent],
        },
        environ={},
    )
    spec = ExportSpec(
        source=SourceSpec(str(source)),
        destination=DestinationSpec(str(root / "exports"), "crm"),
        incremental=IncrementalSpec(mode=mode, key=("email",)),
    )
    return build_plan(spec, settings, export_id, owner=OWNER)


def _keyed(
    root: Path, plan: ExportPlan, keys: IndexKeys, pinned: RunFacts | None = None
) -> KeyedChanges:
    sink = LocalSink(root / "exports")

    def same_rows(fingerprint: str) -> None:
        if pinned is not None:  # as the executor does on a resume
            check_same(pinned, replace(pinned, keys=fingerprint), plan.export_id, keyed=True)

    changes = detect_changes(
        plan,
        sink,
        keys,
        content_key=BASE,
        workers=0,
        batch_rows=1_000,
        spill_root=root / "spill",
        stop=threading.Event(),
        check_fingerprint=same_rows,
    )
    now = datetime.now(UTC)
    manifest = build_manifest(
        plan,
        [],
        created_at=now,
        finished_at=now,
        digest_key_id="content",
        keyed=changes,
        created_by=OWNER,
    )
    write_manifest(sink, plan.manifest_key, manifest)
    return changes


def _rows(values: list[int]) -> pl.DataFrame:
    return pl.DataFrame({"email": [f"u{i}@x.io" for i in range(len(values))], "v": values})


def test_a_chain_begun_under_the_old_daemon_wide_keys_continues_under_them(
    tmp_path: Path,
) -> None:
    legacy = IndexKeys.derive(BASE)
    parent = _plan(tmp_path, "20261201T000000Z-000000000001", _rows([1, 2, 3]), "full")
    assert chain_index_keys(parent, BASE, OWNER).key_id != legacy.key_id  # new chains: v3
    _keyed(tmp_path, parent, legacy)  # as the daemon before per-chain keys wrote it

    child = _plan(tmp_path, "20261202T000000Z-000000000002", _rows([1, 2, 9, 4]), "incremental")
    assert child.increment.parent_export_id == parent.export_id
    keys = chain_index_keys(child, BASE, OWNER)
    changes = _keyed(tmp_path, child, keys)

    assert keys.key_id == changes.key_id == legacy.key_id
    counts = changes.counts
    assert (counts.inserted, counts.updated, counts.deleted, counts.unchanged) == (1, 1, 0, 2)


def test_a_new_chain_has_keys_of_its_own_and_continues_under_them(tmp_path: Path) -> None:
    parent = _plan(tmp_path, "20261201T000000Z-000000000001", _rows([1, 2, 3]), "full")
    first = _keyed(tmp_path, parent, chain_index_keys(parent, BASE, OWNER))
    assert first.key_id == IndexKeys.for_chain(BASE, OWNER, "crm").key_id
    assert first.key_id not in {
        IndexKeys.derive(BASE).key_id,
        IndexKeys.for_chain(BASE, "bob", "crm").key_id,
        IndexKeys.for_chain(BASE, OWNER, "other").key_id,
    }
    child = _plan(tmp_path, "20261202T000000Z-000000000002", _rows([1, 2, 3]), "incremental")
    changes = _keyed(tmp_path, child, chain_index_keys(child, BASE, OWNER))
    assert changes.key_id == first.key_id
    assert changes.counts.unchanged == 3 and changes.counts.inserted == 0


def test_a_parent_under_another_index_key_is_refused(tmp_path: Path) -> None:
    parent = _plan(tmp_path, "20261201T000000Z-000000000001", _rows([1, 2]), "full")
    _keyed(tmp_path, parent, IndexKeys.derive(b"another server's key 0123456789ab"))
    child = _plan(tmp_path, "20261202T000000Z-000000000002", _rows([1, 2]), "incremental")
    with pytest.raises(FailedPrecondition, match="key index"):
        chain_index_keys(child, BASE, OWNER)


def test_a_chain_start_interrupted_before_the_upgrade_resumes_under_the_old_keys(
    tmp_path: Path,
) -> None:
    # The first run (the daemon before per-chain keys) journalled its key pass's
    # fingerprint under the v1 keys, without an index key version; its chunks hold rows
    # by those positions. The resumed run's pass must be taken under the same keys, or
    # its fingerprint differs and the resume is refused as "source changed".
    plan = _plan(tmp_path, "20261201T000000Z-000000000001", _rows([1, 2, 3]), "full")
    before = _keyed(tmp_path / "old", plan, IndexKeys.derive(BASE))
    journalled = json.dumps({"files": [], "parent": "", "keys": before.fingerprint})
    pinned = RunFacts.from_json(journalled)
    assert pinned.index_key_version == ""

    keys = chain_index_keys(plan, BASE, OWNER, pinned=pinned)
    resumed = _keyed(tmp_path, plan, keys, pinned)  # refused were it taken under v2
    assert resumed.fingerprint == before.fingerprint
    assert keys.key_id == IndexKeys.derive(BASE).key_id and keys.version == "v1"

    # A first run of this version journals the version of its keys: resumed under them.
    now = RunFacts(keys=resumed.fingerprint, index_key_version="v2")
    assert RunFacts.from_json(now.to_json()) == now
    assert chain_index_keys(plan, BASE, OWNER, pinned=now).version == "v2"
    assert chain_index_keys(plan, BASE, OWNER).version == "v3"
    current = RunFacts(keys=resumed.fingerprint, index_key_version="v3")
    assert chain_index_keys(plan, BASE, OWNER, pinned=current).version == "v3"


def test_a_chain_begun_under_v2_keys_continues_under_them(tmp_path: Path) -> None:
    """v2 key digests joined the values unescaped; v3 length-prefixes them, so the
    digests of one key differ: a v2 chain must continue under v2, or every row would
    look inserted and every parent key deleted."""
    v2 = IndexKeys.for_chain(BASE, OWNER, "crm", "v2")
    parent = _plan(tmp_path, "20261201T000000Z-000000000001", _rows([1, 2, 3]), "full")
    _keyed(tmp_path, parent, v2)  # as the daemon before v3 wrote it
    child = _plan(tmp_path, "20261202T000000Z-000000000002", _rows([1, 2, 9]), "incremental")
    keys = chain_index_keys(child, BASE, OWNER)
    changes = _keyed(tmp_path, child, keys)
    assert keys.version == "v2" and changes.key_id == v2.key_id
    counts = changes.counts
    assert (counts.inserted, counts.updated, counts.deleted, counts.unchanged) == (0, 1, 0, 2)
    assert v2.key_id != IndexKeys.for_chain(BASE, OWNER, "crm").key_id
