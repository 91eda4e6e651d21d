"""Named sources: `[sources.NAME]` tables of the server config, so callers (requests,
templates, GDPR packages) name data rather than paths, and never see URIs or credentials.

    [sources.applications]
    uri = "sqlite:///srv/jobs.db"          # a file, a glob, an s3:// / az:// URL or a database
    profile = "jobs-store"                 # storage profile for s3:// / az:// (credentials)
    table = "applications"                 # database sources: a table, or
    # query = "SELECT ..."                 #   one read-only SELECT
    time_column = "created_at"             # the column that dates rows
    format = "ndjson"                      # files whose names do not say it (default: by extension)
    subject_column = "user_id"             # whose rows they are (GDPR subject packages)
    id_column = "id"                       # what `ids` select (default for query.id_column)
    description = "Job applications the user submitted"

A named source is read under the same rules as a URI in a request: its files must lie
inside `allowed_source_roots`, its database must be a sqlite:/duckdb: file there.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sluice.server.pipeline.source import SOURCE_FORMATS

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


#: libpq's connection parameters that hold a secret (`postgresql://u@db/x?password=…`).
_PASSWORD_PARAMETERS: Final = frozenset({"password", "sslpassword"})


class NamedSource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: A file, glob, s3:// / az:// URL, or sqlite:/duckdb: URI (no credentials in it:
    #: those come from `profile`).
    uri: str = Field(min_length=1)
    #: Storage profile with the credentials to read it ("" for none).
    profile: str = ""
    #: Database sources: the table to read, or one read-only SELECT (not both).
    table: str = ""
    query: str = ""
    #: Files only: their format (parquet, csv, ndjson, jsonl, arrow, ipc), as a request's
    #: `source.format` says it; "" infers it from the file names' extensions. A request
    #: naming the source may still give its own.
    format: str = ""
    #: The column that dates rows ("" when none).
    time_column: str = ""
    #: The column saying whose rows these are, for GDPR subject packages ("" when none).
    subject_column: str = ""
    #: The column `query.ids` select by, when a request names none ("" : "id").
    id_column: str = ""
    #: What the data is, for people choosing a source (ListSources shows it).
    description: str = ""

    @field_validator("uri")
    @classmethod
    def _no_password(cls, value: str) -> str:
        try:
            parts = urlsplit(value) if "://" in value else None
            password = parts.password if parts is not None else None
            in_query = parts is not None and bool(
                _PASSWORD_PARAMETERS & {key.lower() for key in parse_qs(parts.query)}
            )
        except ValueError:
            password, in_query = None, False
        if password is not None or in_query:
            # Never echoed: the config file (a chart's ConfigMap) is no place for it.
            raise ValueError(
                "must not hold a password (user:password@ or ?password=): name a profile in"
                " `profile` that holds it by reference (source_profiles.NAME.password_ref for a"
                " database, storage_profiles.NAME for s3:// and az://)"
            )
        return value

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value and value.lower() not in SOURCE_FORMATS:
            raise ValueError(
                f"unknown source format {value[:40]!r}; expected one of {', '.join(SOURCE_FORMATS)}"
            )
        return value


def check_source_names(sources: dict[str, NamedSource]) -> dict[str, NamedSource]:
    """Names are plain words (they appear in requests, files and folder names)."""
    for name in sources:
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"source name {name[:40]!r} must be letters, digits, '.', '_' or '-' "
                "(at most 128, starting with a letter or digit)"
            )
    return sources
