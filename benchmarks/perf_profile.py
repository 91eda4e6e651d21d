"""CPU seconds of a running process by thread and by the library the CPU was in, from
Linux `perf` sampling its on-CPU time.

Why perf beside py-spy: py-spy's `--native` stacks of the daemon cannot tell a thread
waiting in a futex or poll from one working (the leaf is an unnamed libc address either
way), so its idle filter keeps the waits, and a short-lived thread's samples can land
under another thread's name. `perf record -e cpu-clock` samples only CPU actually
spent, each sample carrying the nanoseconds it stands for: summed by the library of the
sampled instruction (the driver's, Polars', Arrow's, libcrypto, the interpreter, libc's
copies, the kernel's page faults and syscalls) they say whose code the seconds went to.
Needs `perf` and permission to attach (root, or kernel.perf_event_paranoid <= 1).

The kernel's share says little on its own: `record` keeps call chains, so that
`kernel_by_entry` can split it by how the thread entered the kernel (page faults, i.e.
first touches of freshly mapped memory, against each system call: socket receives, file
writes, munmap, madvise, futex waits) and by the user-space function that entered.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

#: Library groups by the sampled instruction's DSO, first match wins.
LIBRARIES = (
    ("driver", re.compile(r"libadbc_driver_postgresql|libpq")),
    ("polars", re.compile(r"_polars_runtime")),
    ("arrow", re.compile(r"libarrow|libparquet|pyarrow")),
    ("digests+cipher", re.compile(r"libcrypto|blake3")),
    ("zstd", re.compile(r"zstd|backend_c\.")),
    ("python", re.compile(r"libpython|python3")),
    ("libc", re.compile(r"libc\.so|libstdc\+\+|libm\.so")),
    ("kernel", re.compile(r"kernel")),
)
_SAMPLE = re.compile(r"^\s*(\d+)\s+(\d+)\s+\S+\s+\((.*)\)\s*$")


def perf_available() -> bool:
    return shutil.which("perf") is not None


def record(pid: int, out: Path, frequency: int = 999) -> subprocess.Popen[bytes]:
    """Start sampling `pid`'s on-CPU time, with call chains, into `out` (stop it with
    `stop`)."""
    return subprocess.Popen(
        ["perf", "record", "-g", "-e", "cpu-clock", "-F", str(frequency), "-p", str(pid),
         "-o", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def stop(recording: subprocess.Popen[bytes]) -> None:
    recording.send_signal(signal.SIGINT)  # perf writes its file out on SIGINT
    recording.wait()


def library(dso: str) -> str:
    return next((name for name, pattern in LIBRARIES if pattern.search(dso)), "other")


def cpu_by_library(data: Path, kind_of: Callable[[int], str]) -> dict[tuple[str, str], float]:
    """CPU seconds in `data` per (thread kind, library group); `kind_of(tid)` names a
    thread's kind."""
    script = subprocess.run(
        ["perf", "script", "-G", "-i", str(data), "-F", "tid,period,ip,dso"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    spent: dict[tuple[str, str], float] = defaultdict(float)
    for line in script.stdout.splitlines():
        match = _SAMPLE.match(line)
        if match:
            tid, period, dso = int(match.group(1)), int(match.group(2)), match.group(3)
            spent[(kind_of(tid), library(dso))] += period / 1e9
    return dict(spent)


def table(spent: dict[tuple[str, str], float], divide: float = 1.0) -> str:
    """A Markdown table: thread kinds down, library groups across, seconds / `divide`."""
    kinds = sorted(
        {k for k, _ in spent}, key=lambda k: -sum(v for (t, _), v in spent.items() if t == k)
    )
    groups = [name for name, _ in LIBRARIES if any(g == name for _, g in spent)]
    groups += ["other"] if any(g == "other" for _, g in spent) else []
    lines = [
        "| thread | " + " | ".join(groups) + " | all |",
        "|---|" + "---:|" * (len(groups) + 1),
    ]
    for kind in [*kinds, "all"]:
        row = [
            sum(v for (t, g), v in spent.items() if (kind in ("all", t)) and g == group) / divide
            for group in groups
        ]
        lines.append(f"| {kind} | " + " | ".join(f"{v:.3f}" for v in row) + f" | {sum(row):.3f} |")
    return "\n".join(lines)


#: A kernel sample's entry, from its call chain: a page fault, or the system call.
_SYSCALL = re.compile(r"^(?:__(?:x64|do)_sys_|ksys_)(\w+)")


def kernel_by_entry(data: Path, kind_of: Callable[[int], str]) -> dict[tuple[str, str], float]:
    """Kernel CPU seconds in `data` (recorded with call chains) per (how the kernel was
    entered, "thread kind: user-space function that entered it")."""
    script = subprocess.run(
        ["perf", "script", "-i", str(data), "-F", "tid,period,ip,sym,dso"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    spent: dict[tuple[str, str], float] = defaultdict(float)
    for sample in script.stdout.split("\n\n"):
        lines = [line.split() for line in sample.splitlines() if line.strip()]
        if len(lines) < 2 or len(lines[0]) < 2 or "kernel" not in lines[1][-1]:
            continue
        frames = [(f[1] if len(f) > 2 else "?", f[-1]) for f in lines[1:]]
        kernel = [symbol for symbol, dso in frames if "kernel" in dso]
        entry = "other (interrupts, scheduling)"
        for symbol in kernel:
            if "page_fault" in symbol:
                entry = "page faults"
                break
            if match := _SYSCALL.match(symbol):
                entry = f"syscall {match.group(1)}"
                break
        user = next((s.split("+0x")[0] for s, dso in frames if "kernel" not in dso), "?")
        spent[(entry, f"{kind_of(int(lines[0][0]))}: {user[:60]}")] += int(lines[0][1]) / 1e9
    return dict(spent)


def kernel_table(spent: dict[tuple[str, str], float], divide: float = 1.0, top: int = 3) -> str:
    """A Markdown table of `kernel_by_entry`: each entry's seconds / `divide`, with its
    `top` largest (thread kind: function) sources."""
    entries: dict[str, float] = defaultdict(float)
    for (entry, _), seconds in spent.items():
        entries[entry] += seconds
    lines = ["| kernel entered by | CPU s | mostly from |", "|---|---:|---|"]
    for entry, seconds in sorted(entries.items(), key=lambda item: -item[1]):
        sources = sorted(((v, s) for (e, s), v in spent.items() if e == entry), reverse=True)
        mostly = "; ".join(f"{s} {v / divide:.3f}" for v, s in sources[:top])
        lines.append(f"| {entry} | {seconds / divide:.3f} | {mostly} |")
    return "\n".join(lines)
