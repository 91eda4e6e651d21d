"""The tests' daemon harness: a daemon whose port another process took between picking
it and binding it (xdist workers start daemons at the same time) is never mistaken for
the one answering there; its first start moves to a free port."""

from __future__ import annotations

import socket
from collections.abc import Callable

from sluice.client import ExportClient
from tests.daemon import Daemon


def test_a_daemon_whose_port_was_taken_starts_on_another(
    daemon_factory: Callable[..., Daemon],
) -> None:
    other = daemon_factory("other", replica_id="the-other-one")
    other.start()
    mine = daemon_factory("mine", replica_id="mine")
    mine.port = other.port  # taken since it was picked
    mine.start()
    assert mine.port != other.port
    with ExportClient(mine.address) as client:
        assert client.server_info().replica_id == "mine"
    with ExportClient(other.address) as client:
        assert client.server_info().replica_id == "the-other-one"


def test_a_port_held_by_any_process_is_not_taken_for_the_daemon(
    daemon_factory: Callable[..., Daemon],
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        daemon = daemon_factory("d", replica_id="mine")
        daemon.port = held.getsockname()[1]
        daemon.start()
        assert daemon.port != held.getsockname()[1]
        with ExportClient(daemon.address) as client:
            assert client.server_info().replica_id == "mine"
