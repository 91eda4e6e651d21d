"""The daemon's address as the library takes it, checked before gRPC sees it.

gRPC never sends user-info (`user:pw@`), and its resolver's errors quote the target
whole (`dns://user:pw@…` came back as INTERNAL, password and all): such an address is
refused without repeating it. The CLI checks its --server more closely (params.py).
"""

from __future__ import annotations


def refuse_user_info(address: str, argument: str) -> None:
    """ValueError naming `argument` (never repeating `address`) when `address` holds
    user-info."""
    if "@" in address:
        raise ValueError(
            f"{argument}: holds a user name or password (before '@'), which gRPC never "
            "sends: give HOST:PORT, and a token with token="
        )
