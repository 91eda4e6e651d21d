"""Execution: one export run from plan to manifest: the pipeline into a sink,
the chunk journal, keyed change detection and tombstones, then the signed manifest,
written last."""
