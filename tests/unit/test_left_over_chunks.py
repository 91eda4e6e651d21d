"""What deleting a cancelled or failed export may remove: the journalled chunk keys of
its own folder and the fixed names its spec writes, and nothing a journal row could point
at beyond them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sluice.server.committed.leftovers import has_manifest, journalled_chunk_keys, remove_chunks
from sluice.server.errors import FailedPrecondition
from sluice.server.planning.export_files import fixed_file_names
from sluice.server.planning.spec import (
    DestinationSpec,
    EncryptionSpec,
    ExportSpec,
    IncrementalSpec,
    OutputSpec,
    SourceSpec,
)
from sluice.server.settings import Settings
from sluice.sinks.memory import MemorySink


def _put(sink: MemorySink, key: str) -> None:
    writer = sink.create(key)
    writer.write(b"x")
    writer.commit()


def test_only_chunk_file_names_of_the_export_s_own_folder_are_keys() -> None:
    keys = journalled_chunk_keys("events", "exp1", ["part-000000.jsonl.zst", "part-000001.csv"])
    assert keys == ["events/exp1/part-000000.jsonl.zst", "events/exp1/part-000001.csv"]
    bad_names = ("../exp2/part-000000.jsonl", "manifest.json", "sub/part-000000.csv", "part-1.csv")
    # A line break after the name: `$` with re.match let it through.
    for bad in (*bad_names, "part-000001.csv\n"):
        with pytest.raises(FailedPrecondition, match="no chunk file name; nothing was removed"):
            journalled_chunk_keys("events", "exp1", ["part-000000.csv", bad])


def test_removal_leaves_everything_the_journal_does_not_name() -> None:
    sink = MemorySink("left-over")
    kept = ["events/exp1/part-000009.csv", "events/exp1/notes.txt", "events/exp10/part-000000.csv"]
    for key in ["events/exp1/part-000000.csv", "events/exp1/part-000001.csv", *kept]:
        _put(sink, key)
    keys = journalled_chunk_keys("events", "exp1", ["part-000000.csv", "part-000001.csv"])
    keys.append("events/exp1/part-000002.csv")  # journalled, never stored (or gone already)
    assert remove_chunks(sink, keys) == 2
    assert sorted(info.key for info in sink.list()) == sorted(kept)
    assert remove_chunks(sink, keys) == 0
    assert not has_manifest(sink, "events", "exp1")
    _put(sink, "events/exp1/manifest.json.sig")
    assert not has_manifest(sink, "events", "exp1")
    _put(sink, "events/exp1/manifest.json")
    assert has_manifest(sink, "events", "exp1")


def test_the_fixed_names_an_export_writes_follow_its_spec_and_never_name_the_manifest() -> None:
    settings = Settings()
    plain = ExportSpec(SourceSpec(uri="/s.parquet"), DestinationSpec("/exports", "events"))
    assert fixed_file_names(plain, settings) == ("manifest.json.sig",)
    keyed = replace(
        plain,
        output=OutputSpec(format="csv", compression="gzip"),
        incremental=IncrementalSpec(mode="incremental", key=("id",)),
        encryption=EncryptionSpec(age_recipients=("age1x",)),
        report=True,
    )
    assert fixed_file_names(keyed, settings) == (
        "manifest.json.sig",
        "index.arrows",
        "tombstones.csv.gz.age",
        "report.html",
        "report.pdf",
    )
    xml = replace(plain, output=OutputSpec(format="xml"))
    assert "records.xsd" in fixed_file_names(xml, settings)
    parquet = replace(plain, output=OutputSpec(format="parquet"), incremental=keyed.incremental)
    assert "tombstones.parquet" in fixed_file_names(parquet, settings)
