"""Real storage servers (moto, Azurite) as session fixtures, for the tests that use them."""

from tests.servers.fixtures import azurite_server, moto_server
from tests.servers.postgres import postgres_server

__all__ = ["azurite_server", "moto_server", "postgres_server"]
