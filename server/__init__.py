"""The Sluice daemon (`pip install 'sluice[server]'`), one folder per layer, each importing
only the ones below it (tests/unit/test_layers.py): rpc/ (the gRPC edge, translation
only) -> service/ -> planning/ -> execution/ -> pipeline/ and the sinks; committed/ reads
exports already in storage; jobs/ and keyindex/ hold state. main.py wires them together."""
