"""Sluice: a streaming export daemon, its client and its storage, under one import root.

sluice.v1 is the generated gRPC API (proto/sluice/v1/*.proto); sluice.format the export
format shared by writer and reader; sluice.secrets secret references; sluice.cloud_uris
the rules of cloud storage URIs (credentials, bucket and container names); sluice.client
the client library and the `sluice` CLI; sluice.server the daemon; sluice.sinks storage."""
