"""Arrow Flight's gRPC protocol (`arrow.flight.protocol`), generated from the upstream
format/Flight.proto (apache/arrow, copied verbatim) by proto/generate.py.

The package on the wire stays `arrow.flight.protocol`, so any Flight client can call the
daemon; only the Python import path (sluice.flight) is Sluice's own.
"""
