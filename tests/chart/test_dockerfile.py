"""The container image, without a container runtime: the Dockerfile parsed (with Docker's
own parser, the `dockerfile` package) and checked for the properties the issue asks
for, then its final stage's install command run as written (paths moved into a temporary
folder) into a fresh venv, and the entrypoint started the way the chart starts it, with
the chart's rendered sluice.toml, until the daemon answers health SERVING."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dockerfile
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.chart.rendering import CHART, by_kind, load_values, render
from tests.daemon import REPO, free_port

DOCKERFILE = REPO / "Dockerfile"
#: What the wheel is built from, as the build stage COPYs it.
SOURCES = ("pyproject.toml", "README.md", "proto", "server", "client", "sinks")


def _stages() -> list[list[dockerfile.Command]]:
    stages: list[list[dockerfile.Command]] = []
    for command in dockerfile.parse_file(str(DOCKERFILE)):
        if command.cmd == "FROM":
            stages.append([])
        stages[-1].append(command)
    return stages


def _only(stage: list[dockerfile.Command], name: str) -> dockerfile.Command:
    (command,) = [c for c in stage if c.cmd == name]
    return command


def test_dockerfile_is_multi_stage_slim_pinned_and_unprivileged() -> None:
    stages = _stages()
    assert len(stages) >= 2
    for stage in stages:
        image = stage[0].value[0]
        # Pinned to a patch release of a slim Python image, never `latest` or a bare minor.
        assert re.fullmatch(r"python:3\.\d+\.\d+-slim(-\w+)?", image), image
    build, final = stages[0], stages[-1]
    # Every wheel at the lock's version (constraints.txt, `make lock`).
    wheels = [c.original for c in build if "pip wheel" in c.original]
    assert any("-c constraints.txt" in w and ".[server]" in w for w in wheels), wheels
    assert any(c.cmd == "COPY" and "constraints.txt" in c.value for c in build)
    # The final stage gets wheels from the build stage, never the source tree.
    copies = [c for c in final if c.cmd == "COPY"]
    assert copies and all(c.flags == ("--from=build",) for c in copies)
    installs = " ".join(c.original for c in final if c.cmd == "RUN")
    assert "--no-index" in installs and "sluice[server]" in installs
    for tool in ("gcc", "build-essential", "apt-get install", "git "):
        assert tool not in installs, tool
    user = _only(final, "USER").value[0]
    assert user.split(":")[0] not in {"root", "0"}
    entrypoint = _only(final, "ENTRYPOINT")
    assert entrypoint.json and list(entrypoint.value) == ["sluice", "serve"]
    assert _only(final, "STOPSIGNAL").value == ("SIGTERM",)


def _install_command() -> str:
    (command,) = [c for c in _stages()[-1] if c.cmd == "RUN" and "pip install" in c.original]
    return str(command.value[0])


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_install_step_and_the_charts_entrypoint_serve(tmp_path: Path) -> None:
    wheels, venv = tmp_path / "wheels", tmp_path / "opt-sluice"
    _build_wheel(tmp_path / "source", wheels)
    # The image's Python is a plain one; the dependencies come from this repository's
    # venv (linked in, sluice itself left out) so nothing is fetched: --no-index then
    # finds them installed and takes sluice from the wheel alone.
    subprocess.run([sys._base_executable, "-m", "venv", str(venv)], check=True, timeout=300)  # type: ignore[attr-defined]
    _link_dependencies(venv)
    command = _install_command().replace("/opt/sluice", str(venv)).replace("/wheels", str(wheels))
    command = re.sub(r"^python ", f"{shlex.quote(sys._base_executable)} ", command)  # type: ignore[attr-defined]
    result = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert not wheels.exists()  # the step cleans up after itself

    manifests = render(load_values(CHART / "ci" / "single-values.yaml"))
    (workload,) = by_kind(manifests, "StatefulSet")
    container = workload["spec"]["template"]["spec"]["containers"][0]
    (config_map,) = [c for c in by_kind(manifests, "ConfigMap") if "sluice.toml" in c["data"]]
    config = tmp_path / "etc" / "sluice.toml"
    config.parent.mkdir()
    config.write_text(config_map["data"]["sluice.toml"])
    args = [str(config) if a == "/etc/sluice/sluice.toml" else a for a in container["args"]]
    port, metrics_port = free_port(), free_port()
    # Only what a pod has differently: loopback ports and a writable state folder.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLUICE_", "PYTHON")) and k != "VIRTUAL_ENV"
    }
    env |= {e["name"]: e["value"] for e in container["env"] if "value" in e}
    env |= {
        "TMPDIR": str(tmp_path),
        "PATH": f"{venv / 'bin'}:{env.get('PATH', '')}",
        "SLUICE_ADDRESS": f"127.0.0.1:{port}",
        "SLUICE_METRICS_ADDRESS": f"127.0.0.1:{metrics_port}",
        "SLUICE_STATE_DIR": str(tmp_path / "state"),
    }
    entrypoint = ["sluice", "serve"]  # the Dockerfile's, checked above
    log = (tmp_path / "daemon.log").open("wb")
    process = subprocess.Popen(
        [shutil.which("sluice", path=env["PATH"]) or "sluice", *entrypoint[1:], *args],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_serving(f"127.0.0.1:{port}", process, tmp_path / "daemon.log")
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as r:
            assert b"sluice_build_info" in r.read()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        log.close()
    # The chart's log_format: every line is one JSON object.
    lines = (tmp_path / "daemon.log").read_text().splitlines()
    assert lines and all(line.startswith("{") for line in lines), lines[:5]


def _build_wheel(source: Path, wheels: Path) -> None:
    source.mkdir()
    for name in SOURCES:
        origin = REPO / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(wheels), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip


def _link_dependencies(venv: Path) -> None:
    """A folder of links to this venv's installed packages, minus sluice, on the new
    venv's path."""
    ours = Path(next(p for p in sys.path if p.endswith("site-packages")))
    links = venv / "dependencies"
    links.mkdir()
    for entry in ours.iterdir():
        if "sluice" in entry.name.lower() or entry.name in {"pip", "setuptools"}:
            continue
        if entry.name.startswith(("pip-", "setuptools-", "__editable__")):
            continue
        (links / entry.name).symlink_to(entry)
    (site,) = (venv / "lib").glob("python3*/site-packages")
    (site / "zz-dependencies.pth").write_text(f"{links}\n")


def _wait_serving(address: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"daemon exited:\n{log.read_text()[-3000:]}")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    raise AssertionError(f"not SERVING after 60s:\n{log.read_text()[-3000:]}")
