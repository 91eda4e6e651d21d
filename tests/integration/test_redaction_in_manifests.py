"""What a redacted export records beside its records, through a real daemon: no cursor
watermark of a column redaction rewrites."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from sluice.client import ExportClient, InvalidArgumentError
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon

pytestmark = pytest.mark.integration

EMAILS = ["alice.sentinel@example.com", "u2@x.io", "u3@x.io"]


def _people(daemon: Daemon) -> Path:
    path = daemon.sources / "people.parquet"
    pl.DataFrame(
        {
            "id": [1, 2, 3],
            "email": EMAILS,
            "birth_date": [date(1970, 1, d) for d in (4, 5, 6)],
            "updated_at": [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2, 3)],
        }
    ).write_parquet(path)
    return path


def _spec(daemon: Daemon, level: str, **options: object) -> pb.ExportSpec:
    rules = options.pop("rules", [])
    return ExportClient.build_spec(
        source=str(_people(daemon)),
        to=str(daemon.exports),
        dataset="people",
        redaction=pb.Redaction(level=level, rules=rules),  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )


def _manifest(daemon: Daemon, export: pb.Export) -> Any:
    return json.loads((daemon.exports / "people" / export.id / "manifest.json").read_text())


def _stored(daemon: Daemon, export: pb.Export) -> str:
    folder = daemon.exports / "people" / export.id
    return (folder / "manifest.json").read_text() + (folder / "report.html").read_text()


@pytest.mark.parametrize(("level", "cursor"), [("moderate", "email"), ("strict", "birth_date")])
def test_a_cursor_that_redaction_rewrites_is_refused(
    daemon: Daemon, level: str, cursor: str
) -> None:
    with ExportClient(daemon.address) as client:
        for mode in ("full", "incremental"):
            incremental = pb.Incremental(mode=mode, cursor=cursor)
            with pytest.raises(InvalidArgumentError) as refused:
                client.create(_spec(daemon, level, incremental=incremental))
            assert refused.value.violations[0].field == "spec.incremental.cursor"
            assert repr(cursor) in str(refused.value)
            assert "sentinel" not in str(refused.value) and "1970" not in str(refused.value)


def test_a_cursor_redaction_keeps_still_records_its_watermark(daemon: Daemon) -> None:
    keep_email = [pb.RedactionRule(column="email", action="keep")]
    with ExportClient(daemon.address) as client:
        for cursor, rules in (("updated_at", []), ("email", keep_email)):
            spec = _spec(
                daemon,
                "moderate",
                rules=rules,
                incremental=pb.Incremental(cursor=cursor),
                report=True,
            )
            done = client.wait(client.create(spec).id, timeout=120)
            assert _manifest(daemon, done)["watermark"]["column"] == cursor
