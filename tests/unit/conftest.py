"""Real storage servers (moto, Azurite) as session fixtures, for the tests that use them."""

from tests.servers.fixtures import azurite_server, moto_server

__all__ = ["azurite_server", "moto_server"]
