"""A run that lost its lease while it drew its report must not replace the documents of
the manifest the new holder committed: report.html and report.pdf are written beside
the manifest, which lists their sha256, so a late replacement makes the committed export
read as edited. The stale run is stopped (in effect) just before it stores report.html;
meanwhile another replica takes the export over and commits it. Run in-process on a
real SQLite store and a real local folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sluice.server.committed.manifests import read_manifest
from sluice.server.errors import LeaseLost
from sluice.server.execution.executor import ExecutionContext, execute
from sluice.server.jobs.model import NewJob
from sluice.server.jobs.sqlite import SQLiteJobStore
from sluice.server.pipeline.stopping import ExportStop
from sluice.server.planning.spec import ChunkingSpec, DestinationSpec, ExportSpec, SourceSpec
from sluice.server.service.events import EventHub
from sluice.sinks import open_sink
from sluice.sinks.base import Sink, SinkWriter
from tests.unit.local_runs import local_run


def test_a_run_past_its_lease_leaves_the_winners_report(
    tmp_path: Path, store: SQLiteJobStore
) -> None:
    run = local_run(tmp_path, 10)
    spec = ExportSpec(
        source=SourceSpec(uri=str(run.source)),
        destination=DestinationSpec(uri=str(run.out), dataset="events"),
        chunking=ChunkingSpec(max_rows=4),
        report=True,
    )
    store.create(NewJob(id="20260101T000000Z-report", spec=spec))
    claimed = store.claim("here", 60)
    assert claimed is not None
    job, lease = claimed
    prefix = f"events/{job.id}"
    paused = [True]

    def opener(uri: str, *, profile: object = None) -> Sink:
        sink = open_sink(uri, profile=profile)  # type: ignore[arg-type]
        create = sink.create

        def create_after_a_takeover(key: str, **options: object) -> SinkWriter:
            if key == f"{prefix}/report.html" and paused[0]:
                # This run stops here, past its lease: another replica takes the export
                # over and commits it before this run goes on to store its report.
                paused[0] = False
                store.expire_leases()
                taken = store.claim("elsewhere", 60)
                assert taken is not None
                execute(taken[0], context, ExportStop(), taken[1])
            return create(key, **options)  # type: ignore[arg-type]

        sink.create = create_after_a_takeover  # type: ignore[method-assign]
        return sink

    context = ExecutionContext(
        run.settings, store, EventHub(), opener, b"k" * 32, "key-id", b"i" * 32
    )

    with pytest.raises(LeaseLost):
        execute(job, context, ExportStop(), lease)

    assert not paused[0]
    sink = open_sink(str(run.out))
    manifest = read_manifest(sink, f"{prefix}/manifest.json")
    assert [d.path for d in manifest.documents] == ["report.html", "report.pdf"]
    for document in manifest.documents:
        with sink.open(f"{prefix}/{document.path}") as handle:
            stored = handle.read()
        assert hashlib.sha256(stored).hexdigest() == document.sha256, document.path
