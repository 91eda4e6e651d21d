"""Azure Blob sink: options (location, client), upload (the resumable block upload and
its requests), errors (azure-core -> storage errors), sink (the Sink itself)."""

from sinks.azure.options import AzureLocation
from sinks.azure.sink import AzureSink

__all__ = ["AzureLocation", "AzureSink"]
