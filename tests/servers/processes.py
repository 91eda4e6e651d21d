"""Real storage servers for tests, each a child process on 127.0.0.1 stopped by its PID."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.daemon import REPO, free_port

#: moto's console script from the environment running the tests (where pip put the dev
#: extras), not the checkout's own .venv: a git worktree run with another checkout's venv
#: has none of its own.
MOTO_SERVER = Path(sysconfig.get_path("scripts")) / "moto_server"
AZURITE_BLOB = REPO / ".tools" / "node_modules" / ".bin" / "azurite-blob"
#: Azurite's well-known development account (public, documented by Microsoft).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@dataclass
class ServerProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    workdir: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _wait_until_answering(server: ServerProcess, path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            log = (server.workdir / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{server.name} exited early:\n{log}")
        try:
            urllib.request.urlopen(server.endpoint + path, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # answering, even if with an error status
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{server.name} did not answer on {server.endpoint} within {timeout}s")


def _spawn(name: str, argv: list[str], workdir: Path, port: int) -> ServerProcess:
    log = (workdir / "server.log").open("wb")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    log.close()
    return ServerProcess(name, port, process, workdir)


def start_moto() -> ServerProcess:
    if not MOTO_SERVER.exists():
        raise RuntimeError(f"{MOTO_SERVER} is missing: install the dev extras (`make test`)")
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="moto-"))
    server = _spawn("moto", [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)], workdir, port)
    _wait_until_answering(server, "/moto-api/")
    return server


def start_azurite() -> ServerProcess:
    if not AZURITE_BLOB.exists():
        raise RuntimeError(
            f"{AZURITE_BLOB} is missing: run `make test-tools` (installs the npm package azurite)"
        )
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="azurite-"))
    argv = [
        str(AZURITE_BLOB),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--location",
        str(workdir / "data"),
        "--silent",
        "--skipApiVersionCheck",
        "--loose",
        "--disableTelemetry",
    ]
    server = _spawn("azurite", argv, workdir, port)
    _wait_until_answering(server, f"/{AZURITE_ACCOUNT}?comp=list")
    return server


def azurite_connection_string(endpoint: str) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={endpoint}/{AZURITE_ACCOUNT};"
    )
