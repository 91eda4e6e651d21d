"""The gRPC edge: servicers that translate requests to service calls and results back,
request bounds checked on arrival, one interceptor mapping domain errors to statuses, and
the server assembly (health, reflection, the stream budget). No domain logic lives here."""
