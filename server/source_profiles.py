"""Source profiles: named, server-side descriptions of how to reach a source database.

A `postgresql://HOST:PORT/DBNAME` source names one (`spec.source.profile`); the profile
holds the role, the password by *reference* ("env:NAME" or "file:PATH", read only when
connecting, never logged or echoed) and the TLS settings. A profile also lists the
servers (and optionally the databases) it may be used with: a caller chooses the URI, so
without that list a caller could send the profile's password to a server of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sluice.secrets import SecretRef

#: libpq's sslmode values ("": libpq's default, `prefer`).
SslMode = Literal["", "disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


class PostgresProfile(BaseModel):
    """How to read a PostgreSQL database: role, password reference, TLS, limits."""

    # hide_input_in_errors: a mistyped password_ref often holds the password itself.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    kind: Literal["postgresql"] = "postgresql"
    #: "HOST:PORT" of every server this profile may connect to (the source URI must name
    #: one of them). Required: the profile's password goes to no other server.
    hosts: tuple[str, ...] = Field(min_length=1)
    #: Databases this profile may read (empty: any database on `hosts`).
    databases: tuple[str, ...] = ()
    #: The role to connect as.
    user: str = Field(min_length=1, max_length=63)
    #: Secret reference of the role's password ("": none, e.g. trust or certificate auth).
    password_ref: str = Field(default="", repr=False)
    #: libpq sslmode; verify-full with `sslrootcert` for anything beyond a private network.
    sslmode: SslMode = ""
    #: CA certificates that verify the server (verify-ca / verify-full): an absolute path,
    #: or in a config file one relative to the file's folder.
    sslrootcert: Path | None = None
    #: Shown in pg_stat_activity, so a DBA sees who reads.
    application_name: str = Field(default="sluice", max_length=63)
    #: Seconds one statement may run before the server cancels it (0: the server's
    #: setting). A cancelled export fails with FAILED_PRECONDITION naming the timeout.
    statement_timeout: float = Field(default=0.0, ge=0, le=7 * 24 * 3600)
    #: Seconds to wait for a connection.
    connect_timeout: float = Field(default=10.0, gt=0, le=600)

    @field_validator("password_ref")
    @classmethod
    def _is_reference(cls, value: str) -> str:
        if value:
            SecretRef(value)  # raises ValueError without echoing the value
        return value

    @field_validator("sslrootcert")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        # A relative path would be read against whatever folder the daemon runs in. In
        # a config file it is relative to the file (settings resolves it before this).
        if value is not None and not value.is_absolute():
            raise ValueError(
                "sslrootcert must be an absolute path (in a config file: relative to the "
                "file's folder)"
            )
        return value

    @field_validator("hosts")
    @classmethod
    def _host_and_port(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            host, sep, port = entry.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"hosts entries are HOST:PORT, not {entry[:64]!r}")
        return tuple(entry.lower() for entry in value)

    def allows(self, host: str, port: int, database: str) -> bool:
        """Whether this profile may be used for HOST:PORT/DATABASE."""
        if f"{host.lower()}:{port}" not in self.hosts:
            return False
        return not self.databases or database in self.databases


#: Every kind of source profile (one so far; a union with a discriminator when more come).
SourceProfile = PostgresProfile
