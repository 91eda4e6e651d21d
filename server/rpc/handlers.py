"""The one way Sluice's interceptors wrap a method's behaviour.

grpc hands an interceptor the method's handler (an RpcMethodHandler namedtuple, one
behaviour set for its call shape); an interceptor that acts around the call returns a
copy whose behaviour is wrapped. Unary calls and calls that answer with a stream differ
in how they can be wrapped (a return value vs a generator), so each interceptor gives
one wrapper per shape it cares about; shapes it leaves out pass through unchanged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: A handler's behaviour: (request or request iterator, context) -> response(s).
Behavior = Callable[..., Any]
Wrapper = Callable[[Behavior], Behavior]


def rewrap(
    handler: Any,
    *,
    unary: Wrapper | None = None,
    streaming: Wrapper | None = None,
    bidi: bool = True,
) -> Any:
    """`handler` (None passes through) with its behaviour wrapped: unary-unary by
    `unary`, unary-stream by `streaming`, and stream-stream (reflection, Arrow Flight's
    DoPut, DoExchange, Handshake) by `streaming` too unless `bidi` is False."""
    if handler is None:
        return None
    # The stubs do not expose the namedtuple's _replace.
    if handler.unary_unary is not None and unary is not None:
        return handler._replace(unary_unary=unary(handler.unary_unary))
    if handler.unary_stream is not None and streaming is not None:
        return handler._replace(unary_stream=streaming(handler.unary_stream))
    if handler.stream_stream is not None and streaming is not None and bidi:
        return handler._replace(stream_stream=streaming(handler.stream_stream))
    return handler
