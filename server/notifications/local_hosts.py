"""Whether a webhook URL points back at the daemon's own host or its link: loopback,
link-local (cloud metadata services live there) or the unspecified address (which
connects to this host). A principal's ad-hoc URL there would let it make the daemon POST
to services only the host can reach, so only an admin may give one (configured
[notifications.NAME] targets are the operator's and may point anywhere allowed).

Numeric hosts are read as the system's resolver reads them (`127.1`, `2130706433`,
`0x7f.0.0.1` are all 127.0.0.1); names other than the loopback ones hosts files give
(`localhost`, Debian's `ip6-localhost` and `ip6-loopback`) are not resolved here. AWS's
IPv6 metadata service (fd00:ec2::254) is no link-local address, so it is named too."""

from __future__ import annotations

import ipaddress
import socket
from typing import Final
from urllib.parse import urlsplit

#: Names /etc/hosts gives the loopback address (besides localhost and *.localhost).
_LOOPBACK_NAMES: Final = frozenset({"ip6-localhost", "ip6-loopback"})
#: Metadata services at addresses neither loopback nor link-local (AWS IMDS on IPv6).
_METADATA_ADDRESSES: Final = frozenset({ipaddress.ip_address("fd00:ec2::254")})


def is_local_webhook(url: str) -> bool:
    try:
        host = (urlsplit(url).hostname or "").strip("[]").rstrip(".").lower()
        host = host.partition("%")[0]  # an IPv6 zone (%25eth0) says nothing of the host
    except ValueError:
        return False  # not a URL: check_notify names what is wrong with it
    if host == "localhost" or host.endswith(".localhost") or host in _LOOPBACK_NAMES:
        return True
    return any(_is_local(address) for address in _numeric_addresses(host))


def _numeric_addresses(host: str) -> list[str]:
    try:
        found = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return []  # a name: not resolved (no I/O before the request is checked)
    return [str(entry[4][0]) for entry in found]


def _is_local(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or address in _METADATA_ADDRESSES
    )
