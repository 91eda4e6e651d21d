"""Committed exports: what is already in storage, read from manifests (the source
of truth): the chain of a dataset, verification, chunk and record diffs, retention."""
