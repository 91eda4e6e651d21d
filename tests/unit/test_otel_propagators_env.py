"""OTEL_PROPAGATORS is OpenTelemetry's setting for its global propagators, which
`opentelemetry.propagate` loads (and fails on, for one not installed) when imported.
The daemon uses the W3C trace context propagator itself: the variable must not stop
`sluice serve` from starting, with tracing off or on."""

from __future__ import annotations

import os
import subprocess
import sys


def test_the_daemon_imports_whatever_otel_propagators_names() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sluice.server.main, sluice.server.tracing as t, sluice.server.rpc.spans as s; "
            "s.RpcSpans(t.Tracing('http://127.0.0.1:9', 'test').rpc_tracer()); print('ok')",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "OTEL_PROPAGATORS": "b3,no_such_propagator"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
