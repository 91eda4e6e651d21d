"""The Sluice daemon (`pip install 'sluice[server]'`), one folder per layer, each importing
only the ones below it (tests/unit/test_layers.py): rpc/ (the gRPC edge, translation
only) -> service/ -> planning/ -> execution/ -> pipeline/ and the sinks; committed/ reads
exports already in storage; jobs/ and keyindex/ hold state. main.py wires them together."""

from sluice.server.allocator import arrow_pool_jemalloc

# Before any module of the daemon loads pyarrow, which reads the pool's name then.
arrow_pool_jemalloc()
