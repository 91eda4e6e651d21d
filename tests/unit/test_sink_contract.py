"""The Sink contract, run against every implementation.

A backend joins by subclassing SinkContract and providing a `sink` fixture. Behaviour
that only one backend has (tampering in memory) is tested below it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.sinks import (
    IntegrityError,
    LocalSink,
    LocationRefused,
    MemorySink,
    ObjectExists,
    ObjectInfo,
    ObjectNotFound,
    RetryingSink,
    RetryPolicy,
    Sink,
    open_sink,
)
from sluice.sinks.profiles import AzureProfile, S3Profile
from tests.servers.fixtures import (
    MOTO_KEY_ID,
    MOTO_SECRET,
    new_bucket,
    new_container,
)
from tests.servers.processes import ServerProcess, azurite_connection_string
from tests.unit.upload_journal import MemoryJournal

#: More than one 5 MiB part, with a pattern (not zeros).
SIX_MIB = bytes(range(256)) * (6 * 4096)


def write(sink: Sink, key: str, data: bytes, *, overwrite: bool = True) -> ObjectInfo:
    writer = sink.create(key, overwrite=overwrite)
    writer.write(data)
    return writer.commit()


def read(sink: Sink, key: str) -> bytes:
    with sink.open(key) as f:
        return f.read()


def keys(sink: Sink, prefix: str = "") -> list[str]:
    return [info.key for info in sink.list(prefix)]


class SinkContract:
    def test_write_in_pieces_reads_back_equal(self, sink: Sink) -> None:
        pieces = [bytes([i]) * (i * 37 + 1) for i in range(200)]
        writer = sink.create("ds/exp/part-000000.jsonl")
        for piece in pieces:
            writer.write(piece)
        writer.write(memoryview(b"tail"))
        info = writer.commit()
        expected = b"".join(pieces) + b"tail"
        assert info == ObjectInfo("ds/exp/part-000000.jsonl", len(expected))
        assert read(sink, "ds/exp/part-000000.jsonl") == expected
        assert [(i.key, i.size) for i in sink.list()] == [(info.key, info.size)]

    def test_nothing_visible_before_commit(self, sink: Sink) -> None:
        writer = sink.create("a/b.bin")
        writer.write(b"partial")
        assert keys(sink) == []
        with pytest.raises(ObjectNotFound):
            sink.open("a/b.bin")
        writer.commit()
        assert keys(sink) == ["a/b.bin"]

    def test_abort_leaves_nothing_and_is_idempotent(self, sink: Sink) -> None:
        writer = sink.create("a/b.bin")
        writer.write(b"doomed")
        writer.abort()
        writer.abort()
        assert keys(sink) == []
        with pytest.raises(ObjectNotFound):
            sink.open("a/b.bin")

    def test_suspend_publishes_nothing_and_finishes_the_writer(self, sink: Sink) -> None:
        # Resumable backends keep the stored parts for a later writer (test_sink_resumable);
        # every backend publishes nothing and refuses further use.
        writer = sink.create("a/b.bin")
        writer.write(b"interrupted by a shutdown")
        writer.suspend()
        writer.suspend()
        writer.abort()
        assert keys(sink) == []
        with pytest.raises(ValueError, match=r"(suspended|aborted)"):
            writer.commit()
        committed = sink.create("c")
        committed.commit()
        committed.suspend()  # harmless after commit, like abort
        assert keys(sink) == ["c"]

    def test_writer_is_finished_after_commit_or_abort(self, sink: Sink) -> None:
        committed = sink.create("x")
        committed.commit()
        committed.abort()  # harmless after commit: callers abort in `finally`
        with pytest.raises(ValueError, match="committed"):
            committed.write(b"more")
        with pytest.raises(ValueError, match="committed"):
            committed.commit()
        aborted = sink.create("y")
        aborted.abort()
        with pytest.raises(ValueError, match="aborted"):
            aborted.commit()
        assert keys(sink) == ["x"]

    def test_refused_overwrite_keeps_old_bytes(self, sink: Sink) -> None:
        write(sink, "k", b"old")
        writer = sink.create("k", overwrite=False)
        writer.write(b"new")
        with pytest.raises(ObjectExists, match="'k'"):
            writer.commit()
        assert read(sink, "k") == b"old"
        assert keys(sink) == ["k"]

    def test_create_without_overwrite_on_a_new_key(self, sink: Sink) -> None:
        assert write(sink, "fresh", b"1", overwrite=False) == ObjectInfo("fresh", 1)
        assert read(sink, "fresh") == b"1"

    def test_overwrite_replaces(self, sink: Sink) -> None:
        write(sink, "k", b"old bytes, longer")
        write(sink, "k", b"new")
        assert read(sink, "k") == b"new"
        assert [(i.key, i.size) for i in sink.list()] == [("k", 3)]

    def test_a_listing_tells_an_object_written_again_with_the_same_size(self, sink: Sink) -> None:
        # What a resumed export compares its source objects by (run_facts).
        write(sink, "k", b"first")
        (before,) = sink.list()
        write(sink, "k", b"again")
        (after,) = sink.list()
        assert before.version
        assert (after.size, after.version) != (before.size, before.version)
        assert [info.version for info in sink.list()] == [after.version]

    def test_list_in_key_order_with_prefix(self, sink: Sink) -> None:
        for key in ["b/2", "a/1", "a-c", "a/0/z", "ab", "b/10", "a.x"]:
            write(sink, key, key.encode())
        # Plain string order: '-' < '.' < '/' < letters, across folder boundaries.
        assert keys(sink) == ["a-c", "a.x", "a/0/z", "a/1", "ab", "b/10", "b/2"]
        assert keys(sink, "a/") == ["a/0/z", "a/1"]
        assert keys(sink, "a") == ["a-c", "a.x", "a/0/z", "a/1", "ab"]
        assert keys(sink, "b/1") == ["b/10"]
        assert keys(sink, "a/0/z") == ["a/0/z"]
        assert keys(sink, "missing/") == []
        assert keys(sink, "../") == []
        assert [info.size for info in sink.list("b/")] == [4, 3]

    def test_remove(self, sink: Sink) -> None:
        write(sink, "d/k", b"x")
        write(sink, "d/keep", b"y")
        sink.remove("d/k")
        sink.remove("d/k")
        sink.remove("never/there")
        assert keys(sink) == ["d/keep"]

    def test_open_missing(self, sink: Sink) -> None:
        with pytest.raises(ObjectNotFound):
            sink.open("nope")
        write(sink, "dir/file", b"x")
        with pytest.raises(ObjectNotFound):
            sink.open("dir")  # a folder is not an object

    def test_nested_folders(self, sink: Sink) -> None:
        key = "dataset/2024/01/02/export-1/part-000001.parquet.zst.age"
        write(sink, key, b"deep")
        assert read(sink, key) == b"deep"
        assert keys(sink, "dataset/2024/") == [key]

    def test_empty_object(self, sink: Sink) -> None:
        assert sink.create("empty").commit() == ObjectInfo("empty", 0)
        assert read(sink, "empty") == b""
        assert [(i.key, i.size) for i in sink.list()] == [("empty", 0)]

    def test_five_mebibyte_object(self, sink: Sink) -> None:
        block = bytes(range(256)) * 4096  # 1 MiB with a pattern, not zeros
        writer = sink.create("big.bin")
        for _ in range(5):
            writer.write(block)
        assert writer.commit().size == 5 * len(block)
        assert read(sink, "big.bin") == block * 5

    @pytest.mark.parametrize("key", ["", "/abs", "a/../b", "..", "a\\b", "a//b", "a/", "./a"])
    def test_unsafe_keys_rejected(self, sink: Sink, key: str) -> None:
        with pytest.raises(ValueError):
            sink.create(key)
        with pytest.raises(ValueError):
            sink.open(key)
        with pytest.raises(ValueError):
            sink.remove(key)

    def test_describes_itself(self, sink: Sink) -> None:
        assert "://" in sink.uri

    # Clean-up duties: every sink has them, a no-op where there is nothing to do.

    def test_a_suspended_upload_is_discarded_by_abort_upload(self, sink: Sink) -> None:
        journal = MemoryJournal()
        writer = sink.create("ds/exp/part-1", overwrite=False, journal=journal)
        writer.write(SIX_MIB)  # a stored part where parts are 5 MiB
        writer.suspend()
        # Only resumable sinks journal an upload, and only they have one to discard.
        assert (journal.state is not None) == sink.capabilities.resumable
        sink.abort_upload("ds/exp/part-1", journal.state or "")
        sink.abort_upload("ds/exp/part-1", journal.state or "")  # already gone: fine
        assert sink.abort_stray_uploads("ds/") == 0
        assert keys(sink) == []
        fresh = sink.create("ds/exp/part-1", overwrite=False, journal=MemoryJournal())
        fresh.write(b"again")
        assert fresh.commit() == ObjectInfo("ds/exp/part-1", 5)

    def test_a_handed_over_writer_suspends_quietly_for_the_new_holder(self, sink: Sink) -> None:
        """The run lost its lease: its journal says the upload was handed over and (the
        store's fence) refuses every write. Suspend raises nothing and journals nothing,
        leaves nothing published and no temporary file, and the new holder, given the
        journal as it was, stores the object whole."""
        journal = MemoryJournal()
        writer = sink.create("ds/exp/part-1", overwrite=False, journal=journal)
        writer.write(SIX_MIB)  # a stored part where parts are 5 MiB
        kept = journal.state
        journal.lose_lease()
        writer.suspend()
        writer.suspend()
        assert journal.state == kept
        assert keys(sink) == []
        assert list(sink.temporaries()) == []
        continued = sink.create("ds/exp/part-1", overwrite=False, journal=MemoryJournal(kept))
        continued.write(SIX_MIB)
        assert continued.commit() == ObjectInfo("ds/exp/part-1", len(SIX_MIB))
        assert read(sink, "ds/exp/part-1") == SIX_MIB

    def test_what_a_killed_writer_left_is_swept_and_nothing_else(self, sink: Sink) -> None:
        write(sink, "ds/exp/part-0", b"committed")
        killed = sink.create("ds/exp/part-1")  # never committed nor aborted
        killed.write(SIX_MIB)
        elsewhere = sink.create("ds/other/part-0")  # another export, still writing
        elsewhere.write(SIX_MIB)
        left = list(sink.temporaries("ds/exp/"))
        assert all(key.startswith("ds/exp/part-1") for key in left)
        sink.abort_stray_uploads("ds/exp/")
        assert sink.remove_stale_temporaries("ds/exp/") == len(left)
        assert list(sink.temporaries("ds/exp/")) == []
        assert sink.abort_stray_uploads("ds/exp/") == 0
        assert sink.remove_stale_temporaries("ds/exp/") == 0
        killed.abort()  # harmless once its leftovers are gone
        assert elsewhere.commit() == ObjectInfo("ds/other/part-0", len(SIX_MIB))
        assert keys(sink) == ["ds/exp/part-0", "ds/other/part-0"]
        assert read(sink, "ds/exp/part-0") == b"committed"


class TestLocalSink(SinkContract):
    @pytest.fixture
    def sink(self, tmp_path: Path) -> Sink:
        return LocalSink(tmp_path / "root")


class TestMemorySink(SinkContract):
    @pytest.fixture
    def sink(self) -> Sink:
        return MemorySink("contract")


class TestRetryingLocalSink(SinkContract):
    @pytest.fixture
    def sink(self, tmp_path: Path) -> Sink:
        return RetryingSink(LocalSink(tmp_path), RetryPolicy(base_delay=0.0))


class TestS3Sink(SinkContract):
    """S3 through moto's server mode; 5 MiB parts so the 5 MiB test is a real multipart."""

    @pytest.fixture
    def sink(self, moto_server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> Sink:
        monkeypatch.setenv("SLUICE_TEST_S3_KEY", MOTO_KEY_ID)
        monkeypatch.setenv("SLUICE_TEST_S3_SECRET", MOTO_SECRET)
        profile = S3Profile(
            endpoint_url=moto_server.endpoint,
            access_key_id_ref="env:SLUICE_TEST_S3_KEY",
            secret_access_key_ref="env:SLUICE_TEST_S3_SECRET",
            part_size=5 * 1024 * 1024,
        )
        bucket = new_bucket(moto_server.endpoint)
        return open_sink(f"s3://{bucket}/some/prefix", profile=profile)


class TestAzureSink(SinkContract):
    """Azure Blob through Azurite."""

    @pytest.fixture
    def sink(self, azurite_server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> Sink:
        monkeypatch.setenv("SLUICE_TEST_AZURE", azurite_connection_string(azurite_server.endpoint))
        profile = AzureProfile(
            connection_string_ref="env:SLUICE_TEST_AZURE", part_size=5 * 1024 * 1024
        )
        container = new_container(azurite_server.endpoint)
        return open_sink(f"az://{container}/some/prefix", profile=profile)


# Behaviour only one backend has.


def test_memory_sink_detects_tampering() -> None:
    sink = MemorySink()
    write(sink, "k", b"original")
    sink.tamper("k", b"0riginal")
    with pytest.raises(IntegrityError, match="sha256"):
        sink.open("k")
    with pytest.raises(ObjectNotFound):
        sink.tamper("missing", b"")


# Wiring: open_sink turns a destination into a stacked sink.


def test_open_sink_local_paths(tmp_path: Path) -> None:
    target = tmp_path / "out"
    for uri in (str(target), target.as_uri()):
        sink = open_sink(uri)
        assert isinstance(sink, RetryingSink)
        assert sink.uri == "file://" + str(target)  # a local folder behind the retries
        assert not target.exists()  # created by the first write, not by opening
    write(open_sink(str(target)), "k", b"v")
    assert (target / "k").read_bytes() == b"v"
    # The folder really written: no '..', no symbolic links (confinement checks compare it).
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert open_sink(str(tmp_path / "link")).uri == "file://" + str(tmp_path / "real")
    assert open_sink("file://localhost/data/x/../y").uri == "file:///data/y"


@pytest.mark.parametrize(
    "uri",
    [
        "xyz://bucket/path",
        "memory://shared",
        "local:///tmp/x",
        "simplecache::file:///tmp/x",
        "http://127.0.0.1:9/x",
        "https://example.com/x",
        "ftp://127.0.0.1/x",
        "sftp://127.0.0.1/x",
        "zip://x::file:///tmp/a.zip",
        "file://otherhost/data",
        "/tmp/a\x00b",
        "",
    ],
)
def test_open_sink_refuses_everything_outside_the_allow_list(uri: str) -> None:
    # Refused from the text alone: memory:// is not a registry any request can grow,
    # and no other fsspec protocol (or chain of them) is reachable.
    with pytest.raises(LocationRefused):
        open_sink(uri)
