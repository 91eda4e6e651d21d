"""The daemon's address as the library takes it, checked before gRPC sees it.

gRPC never sends user-info (`user:pw@`), and its resolver's errors quote the target
whole (`dns://user:pw@…` came back as INTERNAL, password and all): such an address is
refused without repeating it. A unix: socket path may hold an '@' (systemd instance
names): unix: URIs have no user-info. The CLI's --server takes this same rule and checks
the rest of the address more closely (params.py).
"""

from __future__ import annotations

#: gRPC target schemes whose addresses are paths, where '@' is no user-info.
_SOCKET_SCHEMES = ("unix:", "unix-abstract:")


def holds_user_info(address: str) -> bool:
    """Whether `address` holds user-info (`user:pw@`), which gRPC never sends."""
    return "@" in address and not address.startswith(_SOCKET_SCHEMES)


def refuse_user_info(address: str, argument: str) -> None:
    """ValueError naming `argument` (never repeating `address`) when `address` holds
    user-info."""
    if holds_user_info(address):
        raise ValueError(
            f"{argument}: holds a user name or password (before '@'), which gRPC never "
            "sends: give HOST:PORT, and a token with token="
        )
