"""The export pipeline: source batches -> query -> redaction -> encoder -> compressor ->
cipher -> digests -> sink, on bounded threads. It knows nothing of gRPC, requests or job
records: it takes its own configuration and reports chunks and progress in its own types."""
