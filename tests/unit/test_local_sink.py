"""LocalSink behaviour beyond the shared contract: key safety, temporaries, permissions."""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.sinks import LocalSink, ObjectInfo, StorageAccessDenied, StorageError, local
from sluice.sinks.local import TEMP_MARKER, _translate

TEMP_NAME = re.compile(r"^(?P<name>.+)\.sluice-tmp-[0-9a-f]{8}$")


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    "key",
    ["", "/etc/passwd", "..", "../escape", "a/../../escape", "a\\b", "a//b", "a/", "a/./b"],
)
def test_unsafe_keys_rejected(tmp_path: Path, key: str) -> None:
    sink = LocalSink(tmp_path / "root")
    with pytest.raises(ValueError):
        sink.create(key)
    with pytest.raises(ValueError):
        sink.open(key)
    with pytest.raises(ValueError):
        sink.remove(key)
    assert not (tmp_path / "root").exists()


def test_keys_may_not_look_like_temporaries(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="reserved"):
        LocalSink(tmp_path).create(f"a/part{TEMP_MARKER}0123abcd")


def test_root_is_created_by_the_first_write(tmp_path: Path) -> None:
    sink = LocalSink(tmp_path / "new" / "root")
    assert sink.uri == "file://" + str(tmp_path / "new" / "root")
    assert list(sink.list()) == []
    assert not (tmp_path / "new").exists()
    writer = sink.create("ds/exp/part-0")
    writer.write(b"abc")
    assert writer.commit() == ObjectInfo("ds/exp/part-0", 3)
    assert (tmp_path / "new" / "root" / "ds" / "exp" / "part-0").read_bytes() == b"abc"


def test_writes_go_to_a_temporary_beside_the_final_path(tmp_path: Path) -> None:
    sink = LocalSink(tmp_path)
    writer = sink.create("ds/part-0.jsonl", overwrite=False)
    writer.write(b"in flight")
    (temporary,) = files_under(tmp_path)
    folder, _, name = temporary.rpartition("/")
    assert folder == "ds"
    match = TEMP_NAME.match(name)
    assert match is not None
    assert match["name"] == "part-0.jsonl"
    writer.commit()
    assert files_under(tmp_path) == ["ds/part-0.jsonl"]


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise here")
def test_writeback_starts_every_step_while_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every WRITEBACK_STEP bytes the data so far is flushed out of Python's buffer and
    handed to the kernel's writeback; the object committed is the bytes written."""
    monkeypatch.setattr(local, "WRITEBACK_STEP", 10)
    advised: list[tuple[int, int]] = []

    def advise(fd: int, offset: int, length: int, advice: int) -> None:
        assert advice == os.POSIX_FADV_DONTNEED
        advised.append((offset, os.fstat(fd).st_size))

    monkeypatch.setattr(local.os, "posix_fadvise", advise)
    writer = LocalSink(tmp_path).create("ds/part-0")
    for piece in (b"abcd", b"efgh", b"ijkl", b"m" * 25, b"n"):
        writer.write(piece)
    # After 12 bytes (the first step reached) and 37; the 38th is left to the commit.
    assert advised == [(0, 12), (0, 37)]
    assert writer.commit() == ObjectInfo("ds/part-0", 38)
    assert (tmp_path / "ds" / "part-0").read_bytes() == b"abcdefghijkl" + b"m" * 25 + b"n"


def test_no_temporaries_remain_after_commit_abort_or_refusal(tmp_path: Path) -> None:
    sink = LocalSink(tmp_path)
    for overwrite in (True, False):
        writer = sink.create(f"committed-{overwrite}", overwrite=overwrite)
        writer.write(b"x")
        writer.commit()
    aborted = sink.create("a/aborted")
    aborted.write(b"x")
    aborted.abort()
    refused = sink.create("committed-True", overwrite=False)
    refused.write(b"y")
    with pytest.raises(StorageError):
        refused.commit()
    assert files_under(tmp_path) == ["committed-False", "committed-True"]
    assert (tmp_path / "committed-True").read_bytes() == b"x"


def test_commit_into_existing_and_new_folders(tmp_path: Path) -> None:
    # Exercises every fsync: file, its folder, and the parents of freshly made folders.
    sink = LocalSink(tmp_path)
    for key in ("top", "a/b/c/d", "a/b/c/e", "a/f"):
        for overwrite in (False, True):
            writer = sink.create(key, overwrite=overwrite)
            writer.write(key.encode())
            if overwrite or not (tmp_path / key).exists():
                writer.commit()
            else:
                writer.abort()
    assert [info.key for info in sink.list()] == ["a/b/c/d", "a/b/c/e", "a/f", "top"]


def test_remove_stale_temporaries(tmp_path: Path) -> None:
    sink = LocalSink(tmp_path)
    for key in ("ds/exp1/part-0", "ds/exp2/part-0"):
        writer = sink.create(key)
        writer.write(b"committed")
        writer.commit()
    # Writers that a crash would have left behind: neither committed nor aborted.
    for key in ("ds/exp1/part-1", "ds/exp1/sub/part-2", "ds/exp2/part-1"):
        sink.create(key).write(b"orphan")
    assert sink.remove_stale_temporaries("ds/exp1/") == 2
    assert sink.remove_stale_temporaries("ds/exp1/") == 0
    remaining = [f for f in files_under(tmp_path) if TEMP_MARKER in f]
    assert len(remaining) == 1
    assert remaining[0].startswith("ds/exp2/part-1")
    assert sink.remove_stale_temporaries() == 1
    assert files_under(tmp_path) == ["ds/exp1/part-0", "ds/exp2/part-0"]
    assert sink.remove_stale_temporaries("nowhere/") == 0


def test_listing_does_not_follow_symlinks(tmp_path: Path) -> None:
    sink = LocalSink(tmp_path / "root")
    writer = sink.create("a/file")
    writer.write(b"x")
    writer.commit()
    (tmp_path / "root" / "a" / "loop").symlink_to(tmp_path / "root")
    (tmp_path / "outside").write_bytes(b"secret")
    (tmp_path / "root" / "escape").symlink_to(tmp_path / "outside")
    assert [info.key for info in sink.list()] == ["a/file"]


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder this process cannot create files in, whoever it runs as."""
    folder = tmp_path / "locked"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    # chmod does not stop root; the immutable attribute does (EPERM), where supported.
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("running as root and chattr is unavailable to make a folder read-only")
    made = subprocess.run([chattr, "+i", str(folder)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"running as root and chattr +i failed: {made.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)


def test_permission_denied_is_access_denied(read_only_folder: Path) -> None:
    sink = LocalSink(read_only_folder)
    with pytest.raises(StorageAccessDenied, match="permission denied") as caught:
        sink.create("part-0")
    assert caught.value.location == str(read_only_folder / "part-0")
    assert not caught.value.transient


def test_full_disk_is_a_permanent_error_with_a_clear_message() -> None:
    error = _translate(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "write", "/x/part-0")
    assert type(error) is StorageError
    assert not error.transient
    assert "no space left" in str(error)
    other = _translate(OSError(errno.EIO, os.strerror(errno.EIO)), "write", "/x/part-0")
    assert type(other) is StorageError
    assert "/x/part-0" in str(other)


@pytest.mark.parametrize("planted", ["ds", "ds/exp"])
def test_links_under_the_root_are_never_followed(tmp_path: Path, planted: str) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    outside.mkdir()
    (outside / "part-0").write_bytes(b"secret")
    sink = LocalSink(root)
    writer = sink.create("other/part-0")  # the root exists before the link is planted
    writer.write(b"x")
    writer.commit()
    link = root / planted
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside, target_is_directory=True)
    key = f"{planted}/part-0" if planted == "ds/exp" else "ds/exp/part-0"
    if planted == "ds":
        (outside / "exp").mkdir()
        (outside / "exp" / "part-0").write_bytes(b"secret")
    for action in (
        lambda: sink.create(key),
        lambda: sink.open(key),
        lambda: list(sink.list(planted + "/")),
        lambda: sink.remove(key),
    ):
        with pytest.raises(StorageAccessDenied, match="symbolic link"):
            action()
    assert sorted(p.name for p in outside.rglob("*")) == sorted(
        ["part-0"] + (["exp", "part-0"] if planted == "ds" else [])
    )


def test_a_writer_keeps_its_folder_when_the_name_is_swapped(tmp_path: Path) -> None:
    sink = LocalSink(tmp_path / "root")
    writer = sink.create("ds/exp/part-0")
    writer.write(b"data")
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "root" / "ds" / "exp").rename(tmp_path / "root" / "ds" / "moved")
    (tmp_path / "root" / "ds" / "exp").symlink_to(outside, target_is_directory=True)
    writer.commit()
    assert list(outside.iterdir()) == []
    assert (tmp_path / "root" / "ds" / "moved" / "part-0").read_bytes() == b"data"
