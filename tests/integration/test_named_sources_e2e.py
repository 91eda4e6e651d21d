"""Named sources ([sources.NAME]) through a real daemon: `sluice source list` shows names,
descriptions, marked columns and schemas and never where the data is; exports name a
source instead of a URI, take its columns as defaults, and record the name."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from sluice.client import ExportClient, InvalidArgumentError
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, run_cli
from tests.integration.helpers import load_manifest, read_export

pytestmark = pytest.mark.integration
START = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    root = tmp_path_factory.mktemp("named-sources")
    sources = root / "daemon" / "sources"
    sources.mkdir(parents=True)
    pl.DataFrame(
        {
            "id": list(range(10)),
            "user_id": [i % 3 for i in range(10)],
            "created_at": [START + timedelta(days=i) for i in range(10)],
            "email": [f"user{i}@example.com" for i in range(10)],
        }
    ).write_parquet(sources / "people.parquet")
    with sqlite3.connect(sources / "jobs.db") as db:
        db.execute("CREATE TABLE applications (app_id INTEGER PRIMARY KEY, user_id INT, body TEXT)")
        db.executemany(
            "INSERT INTO applications VALUES (?, ?, ?)", [(i, i % 2, f"app {i}") for i in range(6)]
        )
    made = Daemon(
        root=root / "daemon",
        settings={
            "sources": {
                "people": {
                    "uri": str(sources / "people.parquet"),
                    "time_column": "created_at",
                    "subject_column": "user_id",
                    "id_column": "user_id",
                    "description": "Everyone who signed up",
                },
                "applications": {
                    "uri": f"sqlite://{sources / 'jobs.db'}",
                    "table": "applications",
                    "subject_column": "user_id",
                    "description": "Job applications the user submitted",
                },
                "gone": {"uri": str(sources / "missing.parquet")},
            }
        },
    )
    made.start()
    yield made
    made.stop(timeout=20)


def test_source_list_shows_names_and_schemas_but_never_locations(daemon: Daemon) -> None:
    result = run_cli(daemon, "source", "list", "--json")
    assert result.returncode == 0, result.stderr
    listed = {s["name"]: s for s in json.loads(result.stdout)}
    assert sorted(listed) == ["applications", "gone", "people"]
    people = listed["people"]
    assert people["description"] == "Everyone who signed up"
    assert (people["time_column"], people["subject_column"], people["id_column"]) == (
        "created_at",
        "user_id",
        "user_id",
    )
    assert [(c["name"], c["type"]) for c in people["columns"]] == [
        ("id", "int64"),
        ("user_id", "int64"),
        ("created_at", "timestamp[us, tz=UTC]"),
        ("email", "large_string"),
    ]
    assert [c["name"] for c in listed["applications"]["columns"]] == ["app_id", "user_id", "body"]
    assert "columns" not in listed["gone"] and "cannot be read" in listed["gone"]["error"]
    text = run_cli(daemon, "source", "list")
    assert text.returncode == 0, text.stderr
    assert "Job applications the user submitted" in text.stdout
    for output in (result.stdout, text.stdout):
        assert str(daemon.sources) not in output
        assert "jobs.db" not in output and "sqlite" not in output and ".parquet" not in output


def test_an_export_names_its_source_and_the_manifest_records_the_name(daemon: Daemon) -> None:
    result = run_cli(
        daemon,
        "export",
        "create",
        "--source-name",
        "applications",
        "--to",
        str(daemon.exports),
        "--dataset",
        "apps",
        "--wait",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    manifest_uri = json.loads(result.stdout)["manifest_uri"]
    assert load_manifest(manifest_uri)["source"]["name"] == "applications"
    assert read_export(manifest_uri)["app_id"].to_list() == list(range(6))


def test_the_named_source_columns_are_the_defaults_for_time_range_and_ids(
    daemon: Daemon,
) -> None:
    with ExportClient(daemon.address) as client:
        spec = ExportClient.build_spec(
            source_name="people",
            to=str(daemon.exports),
            dataset="people",
            since=START + timedelta(days=3),
            ids=["1"],
        )
        finished = client.wait(client.create(spec).id, timeout=60)
    exported = read_export(finished.manifest_uri)
    # created_at >= day 3 and user_id == 1 (ids select by the source's id_column).
    assert exported["id"].to_list() == [4, 7]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"source_name": "nobody"}, "spec.source.name"),
        ({"source_name": "people", "source": "/etc/passwd"}, "spec.source.uri"),
        ({"source_name": "people", "table": "t"}, "spec.source.table"),
    ],
)
def test_bad_names_are_refused_naming_the_field(
    daemon: Daemon, options: dict[str, str], field: str
) -> None:
    with ExportClient(daemon.address) as client:
        spec = ExportClient.build_spec(to=str(daemon.exports), dataset="x", **options)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError) as refused:
            client.create(spec)
    assert [v.field for v in refused.value.violations] == [field]


def test_the_cli_takes_one_of_source_and_source_name(daemon: Daemon) -> None:
    for extra in ([], ["--source", "x.parquet", "--source-name", "people"]):
        result = run_cli(
            daemon, "export", "create", *extra, "--to", str(daemon.exports), "--dataset", "d"
        )
        assert result.returncode == 2 and "--source-name NAME" in result.stderr


def test_a_named_source_that_cannot_be_read_is_the_servers_fault_without_its_location(
    daemon: Daemon,
) -> None:
    """'gone' names a file since removed: the caller got INVALID_ARGUMENT on
    spec.source.uri with the file's path, which callers of named sources never see."""
    result = run_cli(
        daemon,
        "export", "create", "--source-name", "gone",
        "--to", str(daemon.exports), "--dataset", "gone",
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    line = result.stderr.strip()
    assert line == (
        "sluice: error: FAILED_PRECONDITION: named source 'gone' cannot be read; "
        "the server log says why"
    ), line
    assert "missing.parquet" in daemon.log_path.read_text()


def test_a_job_rebuilt_from_an_older_manifest_names_its_source_not_its_location(
    daemon_factory,  # type: ignore[no-untyped-def]
) -> None:
    """Manifests written before named sources hid their location record both the uri
    and the name: a job store rebuilt from one showed the uri (GetExport, ListExports)."""
    made = daemon_factory("older-manifest")
    made.sources.mkdir(parents=True, exist_ok=True)
    path = made.sources / "shop.parquet"
    pl.DataFrame({"id": [1, 2, 3]}).write_parquet(path)
    made.settings["sources"] = {"shop": {"uri": str(path)}}
    made.start()
    with ExportClient(made.address) as client:
        spec = ExportClient.build_spec(source_name="shop", to=str(made.exports), dataset="shop")
        export_id = client.wait(client.create(spec).id, timeout=60).id
        manifest_uri = client.get(export_id).manifest_uri
    assert made.stop() == 0
    # As an older daemon wrote it: the location beside the name.
    manifest_path = Path(manifest_uri.removeprefix("file://"))
    document = json.loads(manifest_path.read_text())
    document["source"]["uri"] = str(path)
    manifest_path.write_text(json.dumps(document))
    (made.state_dir / "jobs.sqlite3").write_bytes(b"")
    made.start(args=["--recover-job-store"])
    with ExportClient(made.address) as client:
        recovered = client.get(export_id)
        listed = [e for e in client.list() if e.id == export_id]
    assert recovered.state == pb.EXPORT_STATE_SUCCEEDED
    for export in (recovered, *listed):
        assert (export.spec.source.name, export.spec.source.uri) == ("shop", "")
        assert "shop.parquet" not in str(export)
    assert len(listed) == 1


def test_export_manifest_shows_the_named_source(daemon: Daemon) -> None:
    """`sluice export manifest` showed a source's uri only, which a named source's
    manifest leaves empty: the summary had no source at all."""
    with ExportClient(daemon.address) as client:
        spec = ExportClient.build_spec(source_name="people", to=str(daemon.exports), dataset="m")
        finished = client.wait(client.create(spec).id, timeout=60)
    result = run_cli(daemon, "export", "manifest", finished.manifest_uri)
    assert result.returncode == 0, result.stderr
    source = [line for line in result.stdout.splitlines() if line.startswith("source")]
    assert [line.split(None, 1)[1].strip() for line in source] == ["named source 'people'"]
    assert "people.parquet" not in result.stdout
