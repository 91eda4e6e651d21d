"""An encrypted export's manifest lies in the clear beside its sealed chunks: the values
it would record of the source and of the caller (the watermark of a cursor on personal
data, the parent's it continued from, labels, time range bounds) are sealed for the
daemon, which opens them to continue the chain, across a restart too; what verify needs
(chunks, digests, totals, the cursor column) stays readable."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from sluice.client import ExportClient, FailedPreconditionError
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, create_and_kill_after_chunk, run_cli
from tests.integration import flight_helpers
from tests.integration.helpers import load_manifest, manifest_path

#: The shared fixture (a passphrase secret "pp"), under the name the tests ask for.
flight_daemon = flight_helpers.flight_daemon
pytestmark = pytest.mark.integration

START = datetime(2026, 3, 1, tzinfo=UTC)
LABEL = "ticket-for-ann.example@corp.test"
UNTIL = START + timedelta(days=100)


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
    export = client.wait(client.create(_spec(daemon, source)).id, timeout=180)
    assert export.state == pb.EXPORT_STATE_SUCCEEDED, export.error
    return export


def _spec(daemon: Daemon, source: Path) -> pb.ExportSpec:
    return ExportClient.build_spec(
        source=str(source),
        to=str(daemon.exports),
        dataset="people",
        format="parquet",
        passphrase_secret="pp",
        labels={"about": LABEL},
        time_column="updated_at",
        since=START - timedelta(days=3),
        until=UNTIL,
        incremental=pb.Incremental(mode="incremental", cursor="email"),
        report=True,
    )


def _ids(client: ExportClient, export: pb.Export) -> list[int]:
    table = pa.Table.from_batches(list(client.read(export.id)))
    return sorted(table.column("id").to_pylist())


def _clear_of(export: pb.Export, values: list[str]) -> None:
    """Neither the manifest nor the report beside it holds any of `values`."""
    folder = manifest_path(export.manifest_uri).parent
    for name in ("manifest.json", "report.html"):
        stored = (folder / name).read_bytes()
        for value in values:
            assert value.encode() not in stored, (name, value)


def test_an_encrypted_chain_on_a_personal_cursor_seals_its_values(
    flight_daemon: Daemon,
) -> None:
    daemon = flight_daemon
    source = daemon.sources / "people.parquet"
    _write(source, range(300))
    secret_bounds = [(START - timedelta(days=3)).isoformat()[:16], UNTIL.isoformat()[:16]]
    with ExportClient(daemon.address) as client:
        first = _increment(client, daemon, source)
        assert _ids(client, first) == list(range(300))
        _clear_of(first, [_email(299), _email(0), LABEL, *secret_bounds])
        manifest = load_manifest(first.manifest_uri)
        assert manifest["format_version"] == 2 and manifest["watermark"]["column"] == "email"
        assert manifest["watermark"]["value"] is None and manifest["watermark"]["sealed"]
        assert manifest["labels"] == {} and manifest["query"]["time_range"]["column"]

        _write(source, range(350))
        second = _increment(client, daemon, source)
        assert second.manifest_uri != first.manifest_uri
        assert _ids(client, second) == list(range(300, 350))
        _clear_of(second, [_email(299), _email(349), LABEL, *secret_bounds])

    # A restarted daemon (same state folder, so the same content-digest key) continues.
    daemon.restart()
    _write(source, range(360))
    with ExportClient(daemon.address) as client:
        third = _increment(client, daemon, source)
        assert _ids(client, third) == list(range(350, 360))
        _clear_of(third, [_email(349), _email(359), LABEL])
    # Verify needs no key: chunks, digests and the chain are readable as they are.
    verified = run_cli(daemon, "export", "verify", third.id)
    assert verified.returncode == 0, (verified.stdout, verified.stderr)

    history = run_cli(daemon, "export", "list", "--dataset", "people", "--to", str(daemon.exports))
    assert history.returncode == 0, history.stderr
    assert "(sealed)" in history.stdout and "person" not in history.stdout, history.stdout

    # A lost job store rebuilt from the manifests opens the labels and bounds again.
    assert daemon.stop() == 0
    (daemon.state_dir / "jobs.sqlite3").write_bytes(b"")
    daemon.start(args=["--recover-job-store"])
    with ExportClient(daemon.address) as client:
        restored = client.get(third.id).spec
    assert dict(restored.labels) == {"about": LABEL}
    assert restored.query.time_range.until.ToDatetime(UTC) == UNTIL


@pytest.mark.slow
def test_an_encrypted_increment_resumed_after_a_crash_sends_only_the_new_rows(
    flight_daemon: Daemon,
) -> None:
    """Killed after its first chunk, the increment resumes (planned again from its
    pinned parent, whose sealed watermark the daemon opens) and sends the rows past it."""
    daemon = flight_daemon
    source = daemon.sources / "people.parquet"
    _write(source, range(100))
    with ExportClient(daemon.address) as client:
        _increment(client, daemon, source)
    _write(source, range(100_000))
    spec = _spec(daemon, source)
    spec.chunking.max_rows = 1000
    export_id = create_and_kill_after_chunk(daemon, spec, 1)
    daemon.start()
    with ExportClient(daemon.address) as client:
        resumed = client.wait(export_id, timeout=300)
        assert resumed.state == pb.EXPORT_STATE_SUCCEEDED, resumed.error
        assert "resumes after chunk" in daemon.log_tail(400)
        assert _ids(client, resumed) == list(range(100, 100_000))
    _clear_of(resumed, [_email(99), _email(99_999), LABEL])


def test_a_lost_content_digest_key_stops_the_encrypted_chain_and_says_so(
    flight_daemon: Daemon,
) -> None:
    """The state folder (SQLite job store and default content-digest key) is lost: the
    daemon rebuilt with --recover-job-store has another key, warns that encrypted chains
    need a full export, and the next increment fails FAILED_PRECONDITION writing
    nothing (rather than sending from a watermark it cannot read)."""
    daemon = flight_daemon
    source = daemon.sources / "people.parquet"
    _write(source, range(50))
    with ExportClient(daemon.address) as client:
        first = _increment(client, daemon, source)
    assert daemon.stop() == 0
    shutil.rmtree(daemon.state_dir)
    daemon.start(args=["--recover-job-store"])
    assert "encrypted export(s) were sealed under another content-digest key" in (
        daemon.log_tail(200)
    )
    assert "--mode full" in daemon.log_tail(200)
    stored = sorted(p.relative_to(daemon.exports) for p in daemon.exports.rglob("*"))
    _write(source, range(60))
    with ExportClient(daemon.address) as client, pytest.raises(FailedPreconditionError) as caught:
        client.create(_spec(daemon, source))
    assert "FAILED_PRECONDITION" in str(caught.value)
    assert "sealed under another content-digest key" in str(caught.value)
    assert f"export {first.id}" in str(caught.value)
    assert sorted(p.relative_to(daemon.exports) for p in daemon.exports.rglob("*")) == stored


def test_an_unencrypted_increment_keeps_its_encrypted_parents_watermark_sealed(
    flight_daemon: Daemon,
) -> None:
    """The parent's watermark, opened to plan the increment, is its incremental.since,
    and its own watermark too when it finds no newer rows: an unencrypted increment
    keeps them sealed (its own rows' values lie in its clear chunks anyway)."""
    daemon = flight_daemon
    source = daemon.sources / "people.parquet"
    _write(source, range(300))
    with ExportClient(daemon.address) as client:
        first = _increment(client, daemon, source)
        clear = _spec(daemon, source)
        clear.encryption.Clear()
        nothing_new = client.wait(client.create(clear).id, timeout=180)
        assert nothing_new.state == pb.EXPORT_STATE_SUCCEEDED, nothing_new.error
        assert nothing_new.manifest_uri != first.manifest_uri
        assert _ids(client, nothing_new) == []
        _clear_of(nothing_new, [_email(299)])
        assert load_manifest(nothing_new.manifest_uri)["incremental"]["since"]["sealed"]

        _write(source, range(320))
        more = client.wait(client.create(clear).id, timeout=180)
        assert more.state == pb.EXPORT_STATE_SUCCEEDED, more.error
        assert _ids(client, more) == list(range(300, 320))
        _clear_of(more, [_email(299)])


def test_planning_opens_the_parent_with_the_key_the_daemon_loaded(
    flight_daemon: Daemon,
) -> None:
    """The content-digest key is loaded once, at start, and seals the manifests; planning
    opens the parent's watermark with that same key, never resolving (or creating) the
    key file again: with the file gone while the daemon runs, the chain continues and no
    new key file appears."""
    daemon = flight_daemon
    source = daemon.sources / "people.parquet"
    _write(source, range(40))
    key_file = daemon.state_dir / "keys" / "content-digest.key"
    with ExportClient(daemon.address) as client:
        _increment(client, daemon, source)
        key_file.unlink()
        _write(source, range(45))
        second = _increment(client, daemon, source)
        assert _ids(client, second) == list(range(40, 45))
    assert not key_file.exists()


def test_a_schedule_continuing_an_encrypted_chain_is_checked_with_the_daemons_key(
    flight_daemon: Daemon,
) -> None:
    """CreateSchedule plans the spec as its ticks will (check_scheduled_spec): the chain's
    parent has a sealed watermark, which the check opens with the key the daemon loaded
    rather than refusing the schedule for want of one."""
    daemon = flight_daemon
    source = daemon.sources / "people.parquet"
    _write(source, range(30))
    with ExportClient(daemon.address) as client:
        _increment(client, daemon, source)
        created = client.create_schedule("people-daily", _spec(daemon, source), cron="@daily")
        assert created.name == "people-daily"
