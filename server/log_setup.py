"""The daemon's logging: one format on stderr at the configured level, except for the
libraries that print credentials when asked for detail.

botocore's DEBUG request logging writes the Authorization header (the access key id)
and X-Amz-Security-Token; urllib3 writes request lines, presigned query strings
included; the Azure SDK's HTTP logging policy, msal and azure-identity write headers and
token responses. Those loggers stay at WARNING or quieter whatever `log_level` says, so
DEBUG is safe to turn on in production.
"""

from __future__ import annotations

import logging
import sys
from typing import Final

#: Loggers of libraries that can print credentials, tokens or signed URLs. Children
#: inherit the level unless set explicitly; the Azure HTTP policy's is named on its own
#: because applications commonly set it.
CREDENTIAL_LOGGERS: Final = (
    "botocore",
    "boto3",
    "s3transfer",
    "aiobotocore",
    "s3fs",
    "fsspec",
    "urllib3",
    "aiohttp",
    "requests",
    "httpx",
    "httpcore",
    "azure",
    "azure.core.pipeline.policies.http_logging_policy",
    "azure.identity",
    "adlfs",
    "msal",
    "asyncio",
    "grpc",
)
#: The most detail a credential logger may show.
CREDENTIAL_LOGGERS_FLOOR: Final = logging.WARNING


def configure_logging(level: str) -> None:
    """Log to stderr at `level` (a level name); credential loggers at WARNING or above."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    floor = max(logging.getLevelNamesMapping()[level], CREDENTIAL_LOGGERS_FLOOR)
    for name in CREDENTIAL_LOGGERS:
        logging.getLogger(name).setLevel(floor)
    logging.getLogger("sluice").debug(
        "logging at %s; libraries that can print credentials at %s: %s",
        level,
        logging.getLevelName(floor),
        ", ".join(CREDENTIAL_LOGGERS),
    )
