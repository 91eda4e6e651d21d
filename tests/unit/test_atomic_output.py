"""`-o` naming a descriptor the CLI inherited writes to it as it is: what the caller
had put in the file behind it stays (review of w21-trial: `-o /dev/stdout >> log`
replaced the log with the records)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

_WRITE = (
    "import sys\n"
    "from sluice.client.cli.atomic_output import AtomicOutput\n"
    "with AtomicOutput(sys.argv[1]) as out:\n"
    "    out.write(b'new\\n')\n"
)


@pytest.mark.parametrize("target", ["/dev/stdout", "/proc/self/fd/1", "/dev/fd/1"])
def test_stdout_appended_to_a_file_keeps_what_the_file_held(tmp_path: Path, target: str) -> None:
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"old1\nold2\n")
    with log.open("ab") as appended:
        subprocess.run([sys.executable, "-c", _WRITE, target], stdout=appended, check=True)
    assert log.read_bytes() == b"old1\nold2\nnew\n"


def test_a_descriptor_passed_by_number_is_written_after_what_came_before(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    with out.open("wb") as handle:
        handle.write(b"header\n")
        handle.flush()
        fd = handle.fileno()
        subprocess.run([sys.executable, "-c", _WRITE, f"/dev/fd/{fd}"], pass_fds=(fd,), check=True)
    assert out.read_bytes() == b"header\nnew\n"


def test_a_regular_file_is_still_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "records.jsonl"
    target.write_bytes(b"before\n")
    subprocess.run([sys.executable, "-c", _WRITE, str(target)], check=True)
    assert target.read_bytes() == b"new\n"
