"""The export format, shared by the daemon (writing) and the client (reading): the
manifest model, the storage-layout names, the age and zip formats, manifest signatures
and the date/time text rules.

It imports neither the daemon, the client nor the sinks, and nothing heavier than
`cryptography` and the standard library at import time (temporal_text alone needs Polars).
"""
