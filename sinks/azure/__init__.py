"""Azure Blob sink: options (location, client), upload (the resumable block upload and
its requests), errors (azure-core -> storage errors), sink (the Sink itself).

AzureLocation is plain parsing and comes at once; AzureSink, and with it the Azure SDK
(azure-storage-blob, azure-core and aiohttp: about a quarter of a second to import), on
first use. Every daemon plans destinations, few write to Azure, and each start (a rolling
restart, a replica taking over exports) would otherwise wait for the SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sluice.sinks.azure.options import AzureLocation

if TYPE_CHECKING:
    from sluice.sinks.azure.sink import AzureSink

__all__ = ["AzureLocation", "AzureSink"]


def __getattr__(name: str) -> object:
    # PEP 562: asked only for names the module does not hold yet, i.e. AzureSink once.
    if name == "AzureSink":
        from sluice.sinks.azure.sink import AzureSink

        globals()["AzureSink"] = AzureSink
        return AzureSink
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
