"""The status code an RPC handler ended with, as interceptors read it (tracing's spans,
the metrics' counters)."""

from __future__ import annotations

import grpc


def handler_status(context: grpc.ServicerContext, default: grpc.StatusCode) -> grpc.StatusCode:
    """The status the handler set (set_code or abort), else `default`."""
    code = context.code()  # type: ignore[attr-defined]  # grpcio >= 1.38; not in grpc-stubs
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):  # grpcio gives the enum's integer value in some versions
        return next((c for c in grpc.StatusCode if c.value[0] == code), default)
    return default
