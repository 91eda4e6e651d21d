"""The identity a resumed export compares with its first run's (run_facts): local files
by path, size and modification time; objects in S3 (moto) by size, from one listing;
and the refusals check_same makes."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from sluice.server.errors import FailedPrecondition
from sluice.server.execution.run_facts import (
    RunFacts,
    check_same,
    merged_redaction_facts,
    redaction_facts,
    source_facts,
    source_identity,
)
from sluice.server.pipeline.cloud_files import CloudFiles
from sluice.server.pipeline.source import ResolvedSource
from sluice.sinks.profiles import S3Profile
from tests.servers.fixtures import MOTO_KEY_ID, MOTO_SECRET, new_bucket, s3_client
from tests.servers.processes import ServerProcess


def test_facts_round_trip_and_an_unchanged_source_passes() -> None:
    facts = RunFacts((("/d/a.parquet", 10, 5), ("s3://b/k", 7, None)), "parent-1", "f" * 64)
    assert RunFacts.from_json(facts.to_json()) == facts
    check_same(RunFacts.from_json(facts.to_json()), facts, "e")
    check_same(None, facts, "e")  # nothing journalled: nothing to compare


def test_each_difference_is_refused_naming_what_changed() -> None:
    first = RunFacts((("/d/b.parquet", 10, 5),), "night-1", "aa")
    with pytest.raises(FailedPrecondition, match=r"started: /d/b\.parquet;"):
        check_same(first, RunFacts((("/d/b.parquet", 10, 6),), "night-1", "aa"), "e")
    with pytest.raises(FailedPrecondition, match=r"started: /d/a\.parquet;"):
        check_same(first, RunFacts((("/d/a.parquet", 1, 1), *first.files), "night-1"), "e")
    with pytest.raises(FailedPrecondition, match=r"export \(night-2\) newer .* \(night-1\)"):
        check_same(first, RunFacts(first.files, "night-2", "aa"), "e")
    with pytest.raises(FailedPrecondition, match="key pass found other rows"):
        check_same(first, RunFacts(first.files, "night-1", "bb"), "e")


def test_local_identity_is_path_size_and_mtime(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    path.write_bytes(b"x" * 10)
    source = ResolvedSource(uri=str(path), format="parquet", files=(str(path),))
    first = source_identity(source)
    assert first == ((str(path), 10, os.stat(path).st_mtime_ns),)
    assert source_identity(source) == first
    os.utime(path, ns=(1, first[0][2] + 1))  # rewritten in place, same size
    assert source_identity(source) != first
    path.unlink()
    assert source_identity(source) == ((str(path), None, None),)


def test_s3_object_sizes_come_from_one_listing(
    moto_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_KEY", MOTO_KEY_ID)
    monkeypatch.setenv("T_SECRET", MOTO_SECRET)
    profile = S3Profile(
        endpoint_url=moto_server.endpoint,
        access_key_id_ref="env:T_KEY",
        secret_access_key_ref="env:T_SECRET",
    )
    bucket = new_bucket(moto_server.endpoint)
    client = s3_client(moto_server.endpoint)
    for key, size in (("in/a.parquet", 3), ("in/b.parquet", 5), ("in/bb.csv", 9)):
        client.put_object(Bucket=bucket, Key=key, Body=b"x" * size)
    files = CloudFiles(f"s3://{bucket}", profile)
    uris = [f"s3://{bucket}/in/a.parquet", f"s3://{bucket}/in/b.parquet"]
    first = files.listed(uris)
    assert {uri: info.size for uri, info in first.items()} == dict(zip(uris, [3, 5], strict=True))
    client.put_object(Bucket=bucket, Key="in/b.parquet", Body=b"x" * 6)
    client.delete_object(Bucket=bucket, Key="in/a.parquet")
    assert {uri: info.size for uri, info in files.listed(uris).items()} == {uris[1]: 6}
    # Written again with the same size: the ETag tells, and the expansion's listing is
    # the one a run journals (no second listing).
    before = files.listed(uris)[uris[1]].version
    client.put_object(Bucket=bucket, Key="in/b.parquet", Body=b"y" * 6)
    expanded = files.expand("in/*.parquet")
    assert [(uri, info.size) for uri, info in expanded] == [(uris[1], 6)]
    assert expanded[0][1].version not in ("", before)
    source = ResolvedSource(
        uri=f"s3://{bucket}/in/*.parquet", format="parquet", files=(uris[1],),
        kind="s3", profile=profile, objects=(expanded[0][1],),
    )  # fmt: skip
    facts = source_facts(source, "")
    assert facts.files == ((uris[1], 6, None),)
    assert facts.versions == ((uris[1], expanded[0][1].version),)
    client.put_object(Bucket=bucket, Key="in/b.parquet", Body=b"z" * 6)
    assert source_facts(source, "") == facts  # the expansion's listing: not listed again
    relisted = source_facts(replace(source, objects=()), "")  # no expansion's listing
    assert relisted.files == facts.files
    with pytest.raises(FailedPrecondition, match=r"started: s3://.*/in/b\.parquet \(written"):
        check_same(facts, relisted, "e")


def test_facts_journalled_without_versions_still_resume_by_size() -> None:
    """Run facts of a daemon that predates versions: an object compares by size, as it
    did; and facts with versions keep "files" as it was, for a replica that predates
    them."""
    old = RunFacts.from_json('{"files": [["s3://b/k", 7, null]], "parent": "", "keys": ""}')
    assert old.versions == ()
    check_same(old, RunFacts((("s3://b/k", 7, None),), versions=(("s3://b/k", '"e2"'),)), "e")
    new = RunFacts((("s3://b/k", 7, None),), versions=(("s3://b/k", '"e1"'),))
    assert RunFacts.from_json(new.to_json()) == new
    assert json.loads(new.to_json())["files"] == [["s3://b/k", 7, None]]
    assert "versions" not in json.loads(old.to_json())
    with pytest.raises(FailedPrecondition, match=r"started: s3://b/k \(written again"):
        check_same(new, RunFacts(new.files, versions=(("s3://b/k", '"e2"'),)), "e")
    # A keyed export is judged by its key pass's fingerprint, versions aside.
    keyed = replace(new, keys="aa")
    check_same(keyed, RunFacts(new.files, versions=(("s3://b/k", '"e2"'),)), "e", keyed=True)


def test_a_glob_gaining_files_after_every_pinned_file_continues() -> None:
    first = RunFacts((("/d/06.parquet", 10, 5),))
    check_same(first, RunFacts((*first.files, ("/d/07.parquet", 4, 9))), "e")
    with pytest.raises(FailedPrecondition, match=r"started: /d/05\.parquet;"):
        check_same(first, RunFacts((("/d/05.parquet", 4, 9), *first.files)), "e")


def test_a_keyed_export_is_judged_by_its_fingerprint_not_its_files_mtime() -> None:
    first = RunFacts((("/d/k.csv", 10, 5),), "night-1", "aa")
    touched = RunFacts((("/d/k.csv", 10, 6),), "night-1")
    check_same(first, touched, "e", keyed=True)  # before the key pass
    check_same(first, replace(touched, keys="aa"), "e", keyed=True)
    with pytest.raises(FailedPrecondition, match="same rows at other positions"):
        check_same(first, replace(touched, keys="bb"), "e", keyed=True)
    with pytest.raises(FailedPrecondition, match=r"started: /d/k\.csv;"):
        check_same(first, touched, "e")  # not keyed: the files' identity decides
    with pytest.raises(FailedPrecondition, match=r"export \(night-2\) newer"):
        check_same(first, replace(touched, parent="night-2"), "e", keyed=True)


def test_a_local_file_replaced_by_rename_with_the_same_size_and_mtime_is_a_change(
    tmp_path: Path,
) -> None:
    """A file written elsewhere and renamed over the source (a cron job's daily file),
    with the same size and modification time: its inode tells. Facts journalled without
    inodes (older daemons) compare as they did; facts with them keep "files" as it was,
    for a replica that predates them."""
    path = tmp_path / "a.csv"
    path.write_text("id,v\n1,a\n2,b\n")
    before = path.stat()
    source = ResolvedSource(
        uri=str(path), format="csv", files=(str(path),), real_files=(str(path),)
    )
    pinned = source_facts(source, "")
    check_same(pinned, source_facts(source, ""), "e")
    other = tmp_path / "t.csv"
    other.write_text("id,v\n9,z\n8,y\n")
    os.utime(other, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(other, path)
    found = source_facts(source, "")
    assert found.files == pinned.files  # size and mtime alike
    with pytest.raises(FailedPrecondition, match=r"started: .*a\.csv \(replaced since"):
        check_same(pinned, found, "e")
    check_same(replace(pinned, inodes=()), found, "e")  # journalled before inodes
    assert json.loads(pinned.to_json())["files"] == [list(f) for f in pinned.files]
    assert RunFacts.from_json(pinned.to_json()) == pinned
    # A keyed export is judged by its fingerprint (a replica's own copy has its own inode).
    check_same(replace(pinned, keys="aa"), replace(found, keys="aa"), "e", keyed=True)


def test_a_keyed_resume_under_another_key_is_refused_naming_the_key_before_the_key_pass() -> None:
    first = RunFacts((("/d/k.csv", 10, 5),), "", "aa", key_id="index-1/content-1")
    assert RunFacts.from_json(first.to_json()) == first
    elsewhere = RunFacts(first.files, "", key_id="index-2/content-2")
    with pytest.raises(FailedPrecondition, match="content_digest_key or key_index_key differs"):
        check_same(first, elsewhere, "e", keyed=True)  # before the key pass runs
    check_same(first, replace(elsewhere, key_id=first.key_id), "e", keyed=True)
    # Facts journalled before they named their key are judged by the fingerprint alone.
    old = RunFacts.from_json('{"files": [["/d/k.csv", 10, 5]], "parent": "", "keys": "aa"}')
    assert old.key_id == ""
    check_same(old, elsewhere, "e", keyed=True)


def test_an_unkeyed_resume_under_another_content_key_is_refused_naming_it() -> None:
    # Its manifest would list chunk digests made under key A with key B's id: diffs
    # against it would call every chunk changed (or, worse, equal).
    first = RunFacts((("/d/k.csv", 10, 5),), "", key_id="content-1")
    assert RunFacts.from_json(first.to_json()) == first
    elsewhere = replace(first, key_id="content-2")
    with pytest.raises(FailedPrecondition, match="content_digest_key differs") as raised:
        check_same(first, elsewhere, "e")
    assert "key_index_key" not in str(raised.value)
    check_same(first, replace(elsewhere, key_id="content-1"), "e")


def test_a_first_run_journals_that_it_read_offsets_as_utc_and_older_facts_do_not(
    tmp_path: Path,
) -> None:
    """A resume of facts without offsets_utc reads fixed offsets the former way
    (planning/offset_zones.py): every run this daemon begins says it reads them as UTC."""
    path = tmp_path / "a.parquet"
    path.write_bytes(b"x")
    source = ResolvedSource(uri=str(path), format="parquet", files=(str(path),))
    facts = source_facts(source, "")
    assert facts.offsets_utc and json.loads(facts.to_json())["offsets_utc"] is True
    assert RunFacts.from_json(facts.to_json()) == facts
    older = json.loads(facts.to_json())
    del older["offsets_utc"]
    assert not RunFacts.from_json(json.dumps(older)).offsets_utc


def test_a_resume_under_another_redaction_is_refused_naming_the_policy_and_part() -> None:
    described = {
        "level": "none",
        "policy": "share",
        "rules": [{"action": "hash", "column": "email", "key": "k"}],
        "hash_keys": {"k": "id-1"},
        "counts": {"email": 3},
    }
    first = RunFacts((("/d/k.csv", 10, 5),), "", redaction=redaction_facts(described))
    assert RunFacts.from_json(first.to_json()) == first
    assert "counts" not in dict(first.redaction)  # what was redacted, not how
    # The same redaction with other counts resumes.
    check_same(first, replace(first, redaction=redaction_facts({**described, "counts": {}})), "e")
    rotated = redaction_facts({**described, "hash_keys": {"k": "id-2"}})
    with pytest.raises(FailedPrecondition, match="server policy 'share': its hash_keys differ"):
        check_same(first, replace(first, redaction=rotated), "e", keyed=True)
    raised = redaction_facts({**described, "level": "strict"})
    with pytest.raises(FailedPrecondition, match="level 'none', here 'strict'"):
        check_same(first, replace(first, redaction=raised), "e")
    # Facts journalled before they named their redaction are not compared by it.
    old = RunFacts.from_json('{"files": [["/d/k.csv", 10, 5]], "parent": "", "keys": ""}')
    assert old.redaction == ()
    check_same(old, replace(first, redaction=raised), "e")


def test_a_packages_parts_redactions_are_merged_so_any_parts_change_is_told() -> None:
    json_part = redaction_facts({"level": "none", "policy": "share", "rules": [{"c": "a"}]})
    csv_part = redaction_facts({"level": "none", "policy": "share", "rules": [{"c": "b"}]})
    merged = merged_redaction_facts([json_part, csv_part])
    assert dict(merged)["policy"] == "share" and dict(merged)["level"] == "none"
    changed = redaction_facts({"level": "none", "policy": "share", "rules": [{"c": "z"}]})
    other = merged_redaction_facts([json_part, changed])
    with pytest.raises(FailedPrecondition, match="server policy 'share': its rules differ"):
        check_same(RunFacts(redaction=merged), RunFacts(redaction=other), "e")
