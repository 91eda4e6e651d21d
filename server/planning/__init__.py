"""Planning: a request (ExportSpec) becomes a checked ExportPlan before any write:
source resolution inside the allowed roots, query, redaction, encryption, chunking and
incremental parent/watermark selection. Every bad input is rejected here."""
