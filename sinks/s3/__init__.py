"""S3 sink: options (location, client), requests (parameters), upload (the resumable
multipart upload), errors (botocore -> storage errors), sink (the Sink itself)."""

from sluice.sinks.s3.options import S3Location
from sluice.sinks.s3.sink import S3Sink

__all__ = ["S3Location", "S3Sink"]
