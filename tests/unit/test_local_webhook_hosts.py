"""is_local_webhook: webhook hosts only an admin may give (notifications/local_hosts.py)."""

from __future__ import annotations

import pytest

from sluice.server.notifications.local_hosts import is_local_webhook


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:1/x",
        "https://0x7f.0.0.1:1/x",
        "https://localhost.:1/x",
        "https://[::1]:1/x",
        "https://169.254.169.254/x",
        # Debian's /etc/hosts names for ::1, and AWS's IPv6 metadata service (a unique
        # local address, neither loopback nor link-local).
        "https://ip6-localhost:1/x",
        "https://IP6-LOOPBACK.:1/x",
        "https://[fd00:ec2::254]/latest/meta-data/",
        "https://[FD00:EC2:0::254]:80/x",
        "https://[::ffff:169.254.169.254]/x",
    ],
)
def test_local_hosts_are_local(url: str) -> None:
    assert is_local_webhook(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/x",
        "https://ip6-localhost.example.com/x",
        "https://[fd00:ec2::253]/x",
        "https://10.0.0.1/x",
    ],
)
def test_other_hosts_are_not(url: str) -> None:
    assert not is_local_webhook(url)
