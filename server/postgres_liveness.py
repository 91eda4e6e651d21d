"""How every connection Sluice opens to PostgreSQL notices a server gone silent.

A server that vanishes without a reset (a failover that moves its address elsewhere, a
network partition, a host powered off) leaves libpq waiting on a socket that will never
speak again: a COPY read, a job store query, the job store's LISTEN connection. With the
kernel's defaults TCP only starts asking after two hours of silence. These libpq keywords
make it ask after 30 s, every 10 s, and give the connection up after 3 unanswered
probes, or when data it sent stays unacknowledged for 60 s: about a minute, after which
the caller's usual handling of a lost connection takes over (a read continues after its
last row in a new snapshot; the job store reconnects).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

#: libpq connection keywords (the same names in a URL's query string).
DEAD_PEER_PARAMS: Final[Mapping[str, str]] = {
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "tcp_user_timeout": "60000",
}


def dead_peer_params_for(url: str) -> dict[str, str]:
    """DEAD_PEER_PARAMS but those the connection URL sets itself (an operator's choice
    wins). A URL libpq cannot parse gets them all: connecting then fails, naming it."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        given = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return dict(DEAD_PEER_PARAMS)
    return {key: value for key, value in DEAD_PEER_PARAMS.items() if key not in given}
