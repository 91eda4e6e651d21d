"""A GDPR subject package resumed over a changed source is refused: its first run
journals the files of every source its parts read (server/execution/package_facts.py),
so a source rewritten between a SIGKILL (the CSV part begun) and the restart fails the
resumed package FAILED_PRECONDITION naming the file, with the chunks already written
kept and no manifest: its JSON files were read from the earlier source, and the CSV
part would have continued by row position over the new one (rows lost or doubled, and
the JSON and CSV files telling the person different things)."""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from pathlib import Path

import polars as pl
import pytest

from sluice.client import ExportClient, ExportFailedError
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon
from tests.integration.helpers import decode, decompress, load_manifest, manifest_path

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROWS = 30_000
CHUNK_ROWS = 1_000
GDPR = {
    "controller": "Example Jobs Ltd, 1 High Street",
    "contact": "privacy@example.com",
    "purposes": "Matching job seekers and employers.",
    "retention": "Two years after your last visit.",
    "recipients": "Employers you applied to.",
}


def _frame(ids: list[int]) -> pl.DataFrame:
    return pl.DataFrame({"id": ids, "user_id": [42] * len(ids), "note": ["x" * 40] * len(ids)})


def _parts(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.iterdir()
        if p.name.startswith("part-") and "tmp" not in p.name
    }


def test_a_package_resumed_over_a_rewritten_source_is_refused(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    daemon: Daemon = daemon_factory("pkg-changed", batch_rows=500, pipeline_queue_depth=2)
    daemon.sources.mkdir(parents=True, exist_ok=True)
    source = daemon.sources / "big.parquet"
    _frame(list(range(ROWS))).write_parquet(source)
    daemon.settings.update(
        gdpr=GDPR,
        sources={"big": {"uri": str(source), "subject_column": "user_id"}},
        templates={"unsealed": {"description": "Packages left unencrypted"}},
    )
    daemon.start()
    spec = pb.ExportSpec(
        destination=pb.Destination(uri=str(daemon.exports), dataset="gdpr"),
        chunking=pb.Chunking(max_rows=CHUNK_ROWS),
        template="unsealed",
    )
    spec.subject.subject_id = "42"
    per_part = ROWS // CHUNK_ROWS
    with ExportClient(daemon.address) as client:
        export_id = client.create(spec).id
        for event in client.watch(export_id):
            if event.HasField("chunk_committed") and event.chunk_committed.index >= per_part + 1:
                break
            assert not event.HasField("finished"), "finished before the kill"
    daemon.kill()
    # New rows first: every row of the CSV part's remainder moves by 5,000 positions.
    _frame(list(range(ROWS, ROWS + 5_000)) + list(range(ROWS))).write_parquet(source)
    folder = daemon.exports / "gdpr" / export_id
    written = _parts(folder)
    assert len(written) >= per_part + 2
    daemon.start()
    with ExportClient(daemon.address) as client, pytest.raises(ExportFailedError) as failed:
        client.wait(export_id, timeout=300)
    assert failed.value.code == "FAILED_PRECONDITION", failed.value
    # The source is named: callers see its name, never its hidden path (the log has it).
    message = str(failed.value)
    assert "source changed since the export started: named source 'big', file 1 of 1" in message
    assert str(source) not in message
    assert f"named source 'big', file 1 of 1 is {source}" in daemon.log_path.read_text()
    assert not (folder / "manifest.json").exists()
    assert {n: d for n, d in _parts(folder).items() if n in written} == written


def test_two_sources_on_one_database_each_read_their_own_table(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """Two named sources on one SQLite file share its URI (the table is not in it): each
    part reads its own source's table. The package's facts were once keyed by URI and
    the "messages" parts read the applications table (12 records, not 16)."""
    daemon: Daemon = daemon_factory("pkg-two-tables")
    daemon.sources.mkdir(parents=True, exist_ok=True)
    db = daemon.sources / "jobs.db"
    with closing(sqlite3.connect(db)) as con:
        con.execute("create table applications (id integer, user_id integer, job text)")
        con.execute("create table messages (id integer, user_id integer, body text)")
        con.executemany(
            "insert into applications values (?,?,?)", [(i, 42, f"job{i}") for i in range(3)]
        )
        con.executemany(
            "insert into messages values (?,?,?)", [(i, 42, f"hello{i}") for i in range(5)]
        )
        con.commit()
    daemon.settings.update(
        gdpr=GDPR,
        sources={
            name: {"uri": f"sqlite://{db}", "table": name, "subject_column": "user_id"}
            for name in ("applications", "messages")
        },
        templates={"unsealed": {"description": "Packages left unencrypted"}},
    )  # fmt: skip
    daemon.start()
    spec = pb.ExportSpec(
        destination=pb.Destination(uri=str(daemon.exports), dataset="gdpr"), template="unsealed"
    )
    spec.subject.subject_id = "42"
    with ExportClient(daemon.address) as client:
        finished = client.wait(client.create(spec).id, timeout=120)
    manifest = load_manifest(finished.manifest_uri)
    folder = manifest_path(finished.manifest_uri).parent
    read: dict[tuple[str, str], list[str]] = {}
    for part in manifest["subject_package"]["parts"]:
        rows: list[str] = []
        for index in part["chunks"]:
            chunk = manifest["chunks"][index]
            data = decompress((folder / chunk["path"]).read_bytes(), "zstd", part["format"])
            rows += decode(data, part["format"]).columns[2:]
            rows += [str(v) for v in decode(data, part["format"])[:, 2].to_list()]
        read[(part["source"], part["format"])] = rows
    jobs = ["job", "job0", "job1", "job2"]
    bodies = ["body", "hello0", "hello1", "hello2", "hello3", "hello4"]
    assert read == {
        ("applications", "json"): jobs,
        ("applications", "csv"): jobs,
        ("messages", "json"): bodies,
        ("messages", "csv"): bodies,
    }
    assert manifest["totals"]["records"] == 16


def test_a_package_resumed_under_a_changed_policy_is_refused_and_resumes_under_its_own(
    daemon_factory,  # type: ignore[no-untyped-def]
) -> None:
    """A package whose request names a server redaction policy reads it from the
    settings of each run: changed between a SIGKILL and the restart (a helm upgrade),
    its remaining parts would be redacted otherwise than its first ones. Refused naming
    the policy, parts kept; restored, it resumes to one redaction throughout."""
    daemon: Daemon = daemon_factory("pkg-policy", batch_rows=500, pipeline_queue_depth=2)
    daemon.sources.mkdir(parents=True, exist_ok=True)
    source = daemon.sources / "big.parquet"
    _frame(list(range(ROWS))).write_parquet(source)

    def policy(column: str) -> dict[str, object]:
        return {"share": {"level": "none", "rules": [{"column": column, "action": "drop"}]}}

    daemon.settings.update(
        gdpr=GDPR,
        sources={"big": {"uri": str(source), "subject_column": "user_id"}},
        templates={"unsealed": {"description": "Packages left unencrypted"}},
        redaction_policies=policy("note"),
    )
    daemon.start()
    spec = pb.ExportSpec(
        destination=pb.Destination(uri=str(daemon.exports), dataset="gdpr"),
        chunking=pb.Chunking(max_rows=CHUNK_ROWS),
        template="unsealed",
        redaction=pb.Redaction(policy="share"),
    )
    spec.subject.subject_id = "42"
    with ExportClient(daemon.address) as client:
        export_id = client.create(spec).id
        for event in client.watch(export_id):
            if event.HasField("chunk_committed") and event.chunk_committed.index >= 1:
                break
            assert not event.HasField("finished"), "finished before the kill"
    daemon.kill()
    folder = daemon.exports / "gdpr" / export_id
    written = _parts(folder)
    assert written

    def notes_in(names: list[str]) -> list[str]:
        return [
            n for n in names if b"x" * 40 in decompress((folder / n).read_bytes(), "zstd", "csv")
        ]

    assert notes_in(sorted(written)) == []
    daemon.settings["redaction_policies"] = policy("id")
    daemon.start()
    with ExportClient(daemon.address) as client, pytest.raises(ExportFailedError) as failed:
        client.wait(export_id, timeout=300)
    assert failed.value.code == "FAILED_PRECONDITION", failed.value
    assert "server policy 'share'" in str(failed.value), failed.value
    assert not (folder / "manifest.json").exists()
    assert _parts(folder) == written
    daemon.stop(timeout=60)

    daemon.settings["redaction_policies"] = policy("note")
    daemon.start()
    with ExportClient(daemon.address) as client:
        client.resume(export_id)
        finished = client.wait(export_id, timeout=300)
    assert finished.state == pb.EXPORT_STATE_SUCCEEDED
    manifest = load_manifest(finished.manifest_uri)
    assert len(manifest["chunks"]) > len(written)
    assert notes_in([c["path"] for c in manifest["chunks"]]) == []
