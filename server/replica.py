"""This daemon's identity among the replicas sharing a job store."""

from __future__ import annotations

import secrets
import socket


def default_replica_id() -> str:
    """The host name (a pod's name on Kubernetes) and a random suffix: unique even when
    two daemons share a host, and new at every start."""
    host = socket.gethostname().split(".")[0] or "sluice"
    return f"{host[:100]}-{secrets.token_hex(3)}"
