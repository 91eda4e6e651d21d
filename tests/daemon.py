"""A real Sluice daemon process for integration tests: started through the `sluice serve`
CLI on 127.0.0.1, talked to over gRPC, stopped by its own PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sluice.v1.export_pb2 import ExportSpec

REPO = Path(__file__).resolve().parent.parent
#: While a daemon starts, its health channel retries the connection every 50 ms. With
#: gRPC's default backoff (1 s, then 1.6 times longer each time) a refused connection
#: was retried at about 1 s, 2.6 s, 5 s, so a start was seen up to 1.6 s after it was
#: ready: a daemon ready at 1.1 s was waited for until 2.6 s.
_PROMPT_RECONNECT = (
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 50),
)


#: Where started daemons keep their compiled modules (per user: a shared /tmp).
_BYTECODE_CACHE = str(Path(tempfile.gettempdir()) / f"sluice-test-bytecode-{os.getuid()}")


def _shared_content_key() -> Path:
    """A content digest key file every test daemon on PostgreSQL shares (made once)."""
    path = Path(tempfile.gettempdir()) / f"sluice-test-content-digest-{os.getuid()}.key"
    if not path.exists():
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_bytes(os.urandom(32))
        temporary.chmod(0o600)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another worker made it first
        finally:
            temporary.unlink()
    return path


class _AddressTaken(RuntimeError):
    """The daemon exited because its port was taken since it was picked."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Daemon:
    root: Path
    settings: dict[str, object] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    #: How the test's own health checks reach a TLS daemon: the CA verifying it, and a
    #: client certificate and key when it requires mutual TLS. None: plaintext.
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: Extra environment of `sluice serve` (SLUICE_* settings, variables secrets name).
    env: dict[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def sources(self) -> Path:
        return self.root / "sources"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def log_path(self) -> Path:
        return self.root / "daemon.log"

    def write_config(self) -> Path:
        values: dict[str, object] = {
            "address": self.address,
            "state_dir": str(self.state_dir),
            "allowed_roots": [str(self.exports)],
            "allowed_source_roots": [str(self.sources)],
            "shutdown_grace_seconds": 10.0,
            "log_level": "INFO",
            # An export failing transiently is retried (README "Retries"): after a short
            # wait in tests, so a test of such a failure does not wait out 5 s and 10 s.
            "retry_backoff_seconds": 0.2,
        }
        if self.settings.get("job_store"):
            # Replicas on one PostgreSQL store must share it (the daemon refuses to start
            # without one): every test daemon on PostgreSQL shares this one.
            values["content_digest_key"] = f"file:{_shared_content_key()}"
        values.update(self.settings)
        lines = [f"{key} = {_toml_value(value)}" for key, value in values.items()]
        path = self.root / "sluice.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self, timeout: float = 30.0, args: Sequence[str] = ()) -> None:
        """Start `sluice serve` with this daemon's config (and extra `args`)."""
        command = self._serve_command(args)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command,
            cwd=REPO,
            env=self._environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.starts += 1
        try:
            self.wait_healthy(timeout)
        except _AddressTaken:
            if self.starts > 1:
                raise
            # The port was free when picked, then another test's daemon took it (xdist
            # workers pick at the same time): the first start moves to a new one.
            self.port = free_port()
            self.starts -= 1
            self.start(timeout, args)
        except BaseException:
            # Not healthy in time (a loaded machine) or interrupted: a fixture that fails
            # here never reaches its teardown, so the process is not left running.
            self.kill()
            raise

    def serve_refused(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run `sluice serve` in the foreground when it is expected to refuse to start:
        its exit status and output (stdout and stderr apart). A daemon that starts
        anyway is killed at `timeout` (subprocess.TimeoutExpired)."""
        return subprocess.run(
            self._serve_command(args),
            cwd=REPO,
            env=self._environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def _serve_command(self, args: Sequence[str]) -> list[str]:
        self.sources.mkdir(parents=True, exist_ok=True)
        self.exports.mkdir(parents=True, exist_ok=True)
        config = self.write_config()
        return [
            sys.executable,
            "-m",
            "sluice.client.cli.main",
            "serve",
            "--config",
            str(config),
            *args,
        ]

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
        env.update(self.env)
        # Daemons the tests start share one bytecode cache outside the checkout: with
        # PYTHONDONTWRITEBYTECODE set (as on the machine the suite runs on) each start
        # compiled about 300 of Sluice's modules again, 0.16-0.2 CPU s of every start.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = _BYTECODE_CACHE
        return env

    def channel(self, options: Sequence[tuple[str, int]] = ()) -> grpc.Channel:
        """A channel to this daemon, TLS when tls_ca is set."""
        if self.tls_ca is None:
            return grpc.insecure_channel(self.address, options=options)
        credentials = grpc.ssl_channel_credentials(
            root_certificates=self.tls_ca.read_bytes(),
            private_key=self.tls_key.read_bytes() if self.tls_key else None,
            certificate_chain=self.tls_cert.read_bytes() if self.tls_cert else None,
        )
        return grpc.secure_channel(self.address, credentials, options=options)

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.channel(_PROMPT_RECONNECT) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    tail = self.log_tail()
                    if f"cannot listen on 127.0.0.1:{self.port}" in tail:
                        raise _AddressTaken(f"daemon exited early:\n{tail}")
                    raise RuntimeError(f"daemon exited early:\n{tail}")
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                    # Only this daemon's answer: another test's daemon may hold the port
                    # this one failed to bind (it then exits, and the loop sees that).
                    if reply.status == health_pb2.HealthCheckResponse.SERVING and self._listens():
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"daemon not healthy after {timeout}s:\n{self.log_tail()}")

    def _listens(self) -> bool:
        """Whether this daemon's own process listens on its port."""
        assert self.process is not None
        try:
            connections = psutil.Process(self.process.pid).net_connections(kind="tcp")
        except psutil.Error:
            return False
        return any(
            c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == self.port
            for c in connections
        )

    def healthy(self) -> bool:
        with self.channel() as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service="sluice.v1.ExportService"), timeout=5
                )
            except grpc.RpcError:
                return False
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit status."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            # Where it hangs goes to its log (faulthandler on SIGUSR1) before the kill.
            self.process.send_signal(signal.SIGUSR1)
            time.sleep(1.0)
            self.process.kill()
            self.process.wait()
            raise

    def kill(self) -> None:
        """SIGKILL: the crash a resume must survive."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _toml_value(value: object) -> str:
    """TOML for the settings tests use: strings, booleans, numbers, lists of strings or
    of tables, and tables (dicts) as inline tables."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return (
            "["
            + ", ".join(_toml_value(v) if isinstance(v, dict) else f'"{v}"' for v in value)
            + "]"
        )
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def run_cli(
    daemon: Daemon | None,
    *args: str,
    cwd: Path = REPO,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    input_text: str | None = None,
    umask: int = -1,
    pass_fds: tuple[int, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """`sluice [--server ADDR] ARGS...` as a user's shell runs it: none of the test
    environment's SLUICE_* settings, a wide terminal, output captured as text (and,
    when given, the shell's umask and its open descriptors, as `>(process)` passes)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    clean["COLUMNS"] = "200"
    server = ["--server", daemon.address] if daemon is not None else []
    return subprocess.run(
        [sys.executable, "-m", "sluice.client.cli.main", *server, *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        input=input_text,
        umask=umask,
        pass_fds=pass_fds,
    )


def create_and_kill_after_chunk(daemon: Daemon, spec: ExportSpec, chunk: int) -> str:
    """Create the export of `spec`, follow it until chunk `chunk` is committed, then
    SIGKILL the daemon mid-export; returns the export id (a resume test restarts it)."""
    from sluice.client import ExportClient

    with ExportClient(daemon.address) as client:
        export_id: str = client.create(spec).id
        for event in client.watch(export_id):
            if event.HasField("chunk_committed") and event.chunk_committed.index >= chunk:
                break
            assert not event.HasField("finished"), "finished before the crash"
    daemon.kill()
    return export_id
