"""Azure Blob sink: options (location, client), upload (the resumable block upload and
its requests), errors (azure-core -> storage errors), sink (the Sink itself)."""

from sluice.sinks.azure.options import AzureLocation
from sluice.sinks.azure.sink import AzureSink

__all__ = ["AzureLocation", "AzureSink"]
