"""S3 sink: options (location, client), requests (parameters), upload (the resumable
multipart upload), errors (botocore -> storage errors), sink (the Sink itself).

S3Location is plain parsing and comes at once; S3Sink, and with it botocore (about a
tenth of a second to import), on first use, so that a daemon that writes no S3
destination does not wait for it at every start (see sinks/azure/__init__.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sluice.sinks.s3.options import S3Location

if TYPE_CHECKING:
    from sluice.sinks.s3.sink import S3Sink

__all__ = ["S3Location", "S3Sink"]


def __getattr__(name: str) -> object:
    # PEP 562: asked only for names the module does not hold yet, i.e. S3Sink once.
    if name == "S3Sink":
        from sluice.sinks.s3.sink import S3Sink

        globals()["S3Sink"] = S3Sink
        return S3Sink
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
