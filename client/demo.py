"""`sluice demo`: a self-contained tour. Generates sample data, starts a daemon on a free
port, exports the data with live progress, shows the manifest, and stops the daemon."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from sluice.client._client import ExportClient
from sluice.client._errors import ExportFailedError
from sluice.client._extras import install_hint
from sluice.client.cli.manifest import load_manifest, render_manifest
from sluice.client.cli.output import EXIT_EXPORT_FAILED, CliError, stderr, stdout, summary_line
from sluice.client.cli.progress import wait_with_bar

HEALTH_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
LOG_TAIL_LINES = 20
#: Signals that end the demo through its cleanup (SIGINT does already: KeyboardInterrupt).
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@click.command()
@click.option(
    "--rows",
    type=click.IntRange(min=1),
    metavar="N",
    default=300_000,
    show_default=True,
    help="Rows of sample data to generate and export.",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    default=Path(".sluice-demo"),
    show_default=True,
    help="Folder for the sample source, the daemon's state, its log and the exports.",
)
@click.option(
    "--keep-running",
    is_flag=True,
    help="Leave the daemon running afterwards (its address and pid are printed).",
)
def demo(rows: int, state_dir: Path, keep_running: bool) -> None:
    """Run a complete export against a throwaway local daemon."""
    _require_server()
    out = stdout()
    state_dir = state_dir.resolve()
    source_dir = state_dir / "source"
    exports_dir = state_dir / "exports"
    source_dir.mkdir(parents=True, exist_ok=True)
    exports_dir.mkdir(parents=True, exist_ok=True)

    out.print(f"[bold]1/4[/] generating {rows:,} sample rows")
    source = _generate(source_dir / "events.parquet", rows)
    out.print(f"    {source}")

    address = f"127.0.0.1:{_free_port()}"
    log = state_dir / "daemon.log"
    out.print(f"[bold]2/4[/] starting the daemon on {address} (log: {log})")
    signals = _StopSignals()
    with signals.installed():
        _run_daemon(
            address, (state_dir, source_dir, exports_dir, log), source, keep_running, signals
        )


def _run_daemon(
    address: str,
    folders: tuple[Path, Path, Path, Path],
    source: Path,
    keep_running: bool,
    signals: _StopSignals,
) -> None:
    """Steps 2 to 4 (the daemon started, the export, the manifest); `folders` are the
    state folder, the source's, the exports' and the daemon's log."""
    out = stdout()
    state_dir, source_dir, exports_dir, log = folders
    signals.hold()
    daemon = _start_daemon(address, state_dir, source_dir, exports_dir, log)
    stop = True
    try:
        signals.release()
        _wait_healthy(address, daemon, log)
        out.print("[bold]3/4[/] exporting to jsonl + zstd")
        with ExportClient(address, use_environment=False) as sluice:
            spec = ExportClient.build_spec(
                source=source,
                to=exports_dir,
                dataset="events",
                format="jsonl",
                compression="zstd",
                labels={"origin": "demo"},
            )
            export = sluice.create(spec)
            try:
                if out.is_terminal:
                    final = wait_with_bar(sluice, export.id, out)
                else:
                    final = sluice.wait(export.id)
            except ExportFailedError as exc:
                click.echo(summary_line(exc.export))
                _print_log_tail(log)
                raise click.exceptions.Exit(EXIT_EXPORT_FAILED) from exc
            click.echo(summary_line(final))
            out.print("[bold]4/4[/] the manifest")
            loaded = load_manifest(
                final.manifest_uri, lambda: ExportClient(address, use_environment=False)
            )
            render_manifest(loaded.manifest, loaded.where, out)
        if keep_running:
            stop = False
            out.print(
                f"daemon left running (pid {daemon.pid}); try "
                f"`SLUICE_SERVER={address} sluice export list`; stop it with `kill {daemon.pid}`"
            )
    finally:
        if stop:
            _stop_daemon(daemon)


class _StopSignals:
    """SIGTERM and SIGHUP (a timeout, a CI job cancelled, a closed terminal) end the demo
    as Ctrl-C does, through its `finally`, which stops the daemon: the daemon runs in its
    own session, so the signal's default action left it running, orphaned, holding the
    state folder and its port. While held (the daemon being started: SystemExit inside
    Popen would leave its child unknown) a signal waits for release(); signals after the
    first are ignored while the demo stops."""

    def __init__(self) -> None:
        self._fired = False
        self._held = False
        self._pending = 0

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        previous = {number: signal.signal(number, self._take) for number in _STOP_SIGNALS}
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def hold(self) -> None:
        self._held = True

    def release(self) -> None:
        self._held = False
        if self._pending:
            self._exit(self._pending)

    def _take(self, signum: int, _frame: object) -> None:
        if self._fired:
            return
        if self._held:
            self._pending = signum
            return
        self._exit(signum)

    def _exit(self, signum: int) -> None:
        self._fired = True
        stderr().print(f"{signal.Signals(signum).name}: stopping the demo and its daemon")
        raise SystemExit(128 + signum)


def _require_server() -> None:
    """Fail before any work when the daemon's dependencies (the `server` extra) are
    missing: the demo runs the daemon, and its sample data needs Polars and PyArrow."""
    try:
        importlib.import_module("sluice.server.main")
    except ImportError as exc:
        raise CliError(install_hint("`sluice demo`", "server", exc)) from None


def _generate(path: Path, rows: int) -> Path:
    # Looked up by name: sample data needs Polars, which only the server extra installs,
    # and the client type-checks without it.
    generate: Callable[..., Path] = importlib.import_module("sluice.client.demo_data").generate
    return generate(path, rows, seed=7, format="parquet")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_daemon(
    address: str, state_dir: Path, source_dir: Path, exports_dir: Path, log: Path
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "sluice.client.cli.main",
        "serve",
        "--state-dir",
        str(state_dir),
        "--address",
        address,
        "--allow-source-root",
        str(source_dir),
        "--allow-root",
        str(exports_dir),
    ]
    with log.open("wb") as sink:
        # Own session: a Ctrl-C aimed at the demo must not hit the daemon mid-export;
        # the demo stops it itself, in order.
        return subprocess.Popen(
            command,
            # The demo's daemon is its own: none of the caller's SLUICE_* settings (a
            # [tls] or principals meant for a real daemon, SLUICE_TLS_* of the client).
            env={k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")},
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_healthy(address: str, daemon: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            _print_log_tail(log)
            raise CliError(f"the daemon exited with status {daemon.returncode} while starting")
        # A fresh channel per probe: a channel that failed to connect backs off for
        # seconds before trying again, which would delay noticing the daemon is up.
        with ExportClient(address, use_environment=False) as probe:
            if probe.health(timeout=1.0):
                return
        time.sleep(0.2)
    _print_log_tail(log)
    raise CliError(f"the daemon did not become healthy within {HEALTH_TIMEOUT:.0f} s")


def _stop_daemon(daemon: subprocess.Popen[bytes]) -> None:
    if daemon.poll() is not None:
        return
    daemon.send_signal(signal.SIGTERM)
    try:
        daemon.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()
        stderr().print(f"the daemon ignored SIGTERM for {STOP_TIMEOUT:.0f} s and was killed")
    else:
        stdout().print("daemon stopped")


def _print_log_tail(log: Path) -> None:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return
    console = stderr()
    console.print(f"--- last lines of {log} ---")
    for line in lines[-LOG_TAIL_LINES:]:
        console.print(line, markup=False)
