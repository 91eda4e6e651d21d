"""An encrypted export's manifest lies in the clear beside its sealed chunks: the values
it would record of the source and of the caller (the watermark of a cursor on personal
data, the parent's it continued from, labels, time range bounds) are sealed for the
daemon, which opens them to continue the chain, across a restart too; what verify needs
(chunks, digests, totals, the cursor column) stays readable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from sluice.client import ExportClient
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, run_cli
from tests.integration import flight_helpers
from tests.integration.helpers import load_manifest, manifest_path

#: The shared fixture (a passphrase secret "pp"), under the name the tests ask for.
flight_daemon = flight_helpers.flight_daemon
pytestmark = pytest.mark.integration

START = datetime(2026, 3, 1, tzinfo=UTC)
LABEL = "ticket-for-ann.example@corp.test"


def _email(i: int) -> str:
    return f"person{i:05d}@example.com"


def _write(path: Path, rows: range) -> None:
    pl.DataFrame(
        {
            "id": list(rows),
            "email": [_email(i) for i in rows],
            "updated_at": [START + timedelta(minutes=i) for i in rows],
        }
    ).write_parquet(path)


def _increment(client: ExportClient, daemon: Daemon, source: Path) -> pb.Export:
    spec = ExportClient.build_spec(
        source=str(source),
        to=str(daemon.exports),
        dataset="people",
        format="parquet",
        passphrase_secret="pp",
        labels={"about": LABEL},
        time_column="updated_at",
        since=START - timedelta(days=3),
        until=START + timedelta(days=30),
        incremental=pb.Incremental(mode="incremental", cursor="email"),
    )
    export = client.wait(client.create(spec).id, timeout=180)
    assert export.state == pb.EXPORT_STATE_SUCCEEDED, export.error
    return export


def _ids(client: ExportClient, export: pb.Export) -> list[int]:
    table = pa.Table.from_batches(list(client.read(export.id)))
    return sorted(table.column("id").to_pylist())


def _clear_of(export: pb.Export, values: list[str]) -> bytes:
    stored = manifest_path(export.manifest_uri).read_bytes()
    for value in values:
        assert value.encode() not in stored, value
    return stored


def test_an_encrypted_chain_on_a_personal_cursor_seals_its_values(
    flight_daemon: Daemon,
) -> None:
    daemon = flight_daemon
    source = daemon.sources / "people.parquet"
    _write(source, range(0, 300))
    secret_bounds = [(START - timedelta(days=3)).isoformat()[:16], "2026-03-31"]
    with ExportClient(daemon.address) as client:
        first = _increment(client, daemon, source)
        assert _ids(client, first) == list(range(300))
        _clear_of(first, [_email(299), _email(0), LABEL, *secret_bounds])
        manifest = load_manifest(first.manifest_uri)
        assert manifest["watermark"]["column"] == "email"
        assert manifest["watermark"]["value"] is None and manifest["watermark"]["sealed"]
        assert manifest["labels"] == {} and manifest["query"]["time_range"]["column"]

        _write(source, range(0, 350))
        second = _increment(client, daemon, source)
        assert second.manifest_uri != first.manifest_uri
        assert _ids(client, second) == list(range(300, 350))
        _clear_of(second, [_email(299), _email(349), LABEL, *secret_bounds])

    # A restarted daemon (same state folder, so the same content-digest key) continues.
    daemon.restart()
    _write(source, range(0, 360))
    with ExportClient(daemon.address) as client:
        third = _increment(client, daemon, source)
        assert _ids(client, third) == list(range(350, 360))
        _clear_of(third, [_email(349), _email(359), LABEL])
    # Verify needs no key: chunks, digests and the chain are readable as they are.
    verified = run_cli(daemon, "export", "verify", third.id)
    assert verified.returncode == 0, (verified.stdout, verified.stderr)
