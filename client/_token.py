"""Client-side bearer tokens: from the argument, else SLUICE_TOKEN; sent as
`authorization: Bearer <token>` metadata on every call of the channel."""

from __future__ import annotations

import collections
import functools
import ipaddress
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from sluice.client._errors import SluiceError

TOKEN_ENV = "SLUICE_TOKEN"  # noqa: S105 - the variable's name, not a token


def resolve_token(token: str | None) -> str | None:
    """The token to send: the argument, else $SLUICE_TOKEN; None: none."""
    value = token if token is not None else os.environ.get(TOKEN_ENV, "")
    return checked_token(value) or None


def checked_token(value: str) -> str:
    """`value` without surrounding whitespace, if the client can send it (one line of
    printable characters without spaces); INVALID_ARGUMENT otherwise, never echoing it."""
    value = value.strip()
    if value and (not value.isprintable() or " " in value):
        raise SluiceError(
            "the token must be one line of printable characters without spaces",
            code="INVALID_ARGUMENT",
        )
    return value


def check_token_transport(address: str, *, tls: bool, insecure: bool) -> None:
    """Refuses to send a token in clear to another machine: without TLS, only to a
    loopback address (or a Unix socket) unless the caller allowed it with `insecure`.
    Anyone on the path could read it and call the daemon as that principal."""
    if tls or insecure or _is_local(address):
        return
    raise SluiceError(
        f"refusing to send the token in plaintext to {address}, which is not a loopback "
        "address: connect with TLS (--tls-ca), or allow it with --insecure-token "
        "(ExportClient(insecure=True))",
        code="INVALID_ARGUMENT",
    )


def _is_local(address: str) -> bool:
    if address.startswith(("unix:", "unix-abstract:")):
        return True
    target = address.removeprefix("dns:").removeprefix("ipv4:").removeprefix("ipv6:")
    host = _host(target.lstrip("/"))
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host(target: str) -> str:
    """The host of HOST, HOST:PORT, [IPV6]:PORT, [IPV6] or a bare IPv6 address."""
    if target.startswith("["):
        return target[1:].partition("]")[0]
    if target.count(":") == 1:
        return target.partition(":")[0]
    return target  # no port, or a bare IPv6 address (several colons)


def read_token_file(path: Path) -> str:
    """The token held in `path` (surrounding whitespace, such as its newline, removed)."""
    try:
        return path.expanduser().read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SluiceError(
            f"cannot read token file {path}: {reason or exc}", code="INVALID_ARGUMENT"
        ) from None


class _CallDetails(
    collections.namedtuple(
        "_CallDetails",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,
):
    pass


class BearerToken(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[type-arg]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.StreamStreamClientInterceptor,  # type: ignore[type-arg]
):
    """Adds the token to every call. (Call credentials would refuse plaintext channels,
    which a loopback daemon may well use.)"""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _with_token(self, details: grpc.ClientCallDetails) -> _CallDetails:
        metadata = [*(details.metadata or ()), self._header]
        return _CallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            details.wait_for_ready,
            details.compression,
        )

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        return continuation(self._with_token(client_call_details), request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        return continuation(self._with_token(client_call_details), request)

    def intercept_stream_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request_iterator: Any
    ) -> Any:
        return continuation(self._with_token(client_call_details), request_iterator)

    def intercept_stream_stream(
        self, continuation: Callable[..., Any], client_call_details: Any, request_iterator: Any
    ) -> Any:
        # Arrow Flight's DoPut (ExportClient.put) is a bidirectional stream.
        return continuation(self._with_token(client_call_details), request_iterator)


class TokenStub:
    """A generated stub whose every call carries the token as metadata. The export
    service's calls go through this rather than BearerToken: grpc's intercepted channel
    costs the client some 70-100 µs of CPU per call, a keyword argument nothing."""

    def __init__(self, stub: object, token: str) -> None:
        self._stub = stub
        self._metadata = (("authorization", f"Bearer {token}"),)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method: Callable[..., Any] = getattr(self._stub, name)
        return functools.partial(method, metadata=self._metadata)
