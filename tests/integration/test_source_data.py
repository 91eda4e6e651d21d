"""Source data through a real daemon: a bad row never reaches an error, a log or the job
store; bad rows can be skipped and are counted; a CSV source can be given column types."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from sluice.client import ExportClient, ExportFailedError, InvalidArgumentError
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, run_cli
from tests.integration.helpers import load_manifest, read_export

pytestmark = pytest.mark.integration

# Values that must never leave: not in errors, logs or the job store.
SECRET_EMAIL = "secret.person@example.com"
SECRET_CARD = "4242424242424242"
SECRET_EXTRA = "TOPSECRETEXTRA"


@pytest.fixture(scope="module", params=["text", "json"])
def world(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[Daemon, ExportClient]]:
    """A daemon per log format: neither may write a bad row to its log."""
    daemon = Daemon(
        root=tmp_path_factory.mktemp("source-data") / "d", settings={"log_format": request.param}
    )
    daemon.start()
    try:
        with ExportClient(daemon.address) as client:
            yield daemon, client
    finally:
        daemon.stop(timeout=20)


def _spec(daemon: Daemon, source: Path, **options: object) -> pb.ExportSpec:
    values: dict[str, object] = {
        "source": str(source),
        "to": str(daemon.exports),
        "dataset": source.stem,
        "chunk_rows": 1000,
    }
    values.update(options)
    return ExportClient.build_spec(**values)  # type: ignore[arg-type]


def _run(client: ExportClient, spec: pb.ExportSpec) -> pb.Export:
    """The finished export, failed or not."""
    try:
        return client.wait(client.create(spec).id, timeout=120)
    except ExportFailedError as exc:
        return exc.export


def _stored_bytes(folder: Path) -> bytes:
    """Every byte the daemon keeps in a folder (the job store, its -wal and -shm)."""
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def _sluice(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(daemon, *args, timeout=60)


def test_a_bad_row_never_reaches_the_error_the_log_or_the_job_store(world) -> None:  # type: ignore[no-untyped-def]
    daemon, client = world
    source = daemon.sources / "people.csv"
    source.write_text(
        "id,email,card\n"
        "1,a@example.com,4111111111111111\n"
        f"2,{SECRET_EMAIL},{SECRET_CARD},{SECRET_EXTRA}\n"
        "3,c@example.com,5500000000000004\n"
    )
    spec = _spec(daemon, source, redaction=pb.Redaction(level="strict"))
    try:
        finished = _run(client, spec)
    except InvalidArgumentError as exc:  # found while planning: fine, if it says where
        code, message = "INVALID_ARGUMENT", exc.message
        assert [v.field for v in exc.violations] == ["spec.source.uri"]
    else:
        assert finished.state == pb.EXPORT_STATE_FAILED
        code, message = finished.error.code, finished.error.message
    assert code in {"FAILED_PRECONDITION", "INVALID_ARGUMENT"}, (code, message)
    assert "people.csv" in message and "line 3" in message, message
    assert "4 fields" in message and "expected 3" in message, message
    for secret in (SECRET_EMAIL, SECRET_CARD, SECRET_EXTRA, "secret.person"):
        assert secret not in message
    # The daemon kept nothing of the row anywhere: its log, the job store and its WAL.
    for stored in (daemon.log_path.read_bytes(), _stored_bytes(daemon.state_dir)):
        for secret in (SECRET_EMAIL, SECRET_CARD, SECRET_EXTRA):
            assert secret.encode() not in stored
    assert daemon.healthy()


def test_a_value_of_the_wrong_type_names_line_and_column_not_the_value(world) -> None:  # type: ignore[no-untyped-def]
    daemon, client = world
    source = daemon.sources / "amounts.csv"
    rows = [f"{i},{i * 10}" for i in range(1, 301)]
    rows[249] = f"250,{SECRET_EXTRA}"  # past the rows Polars infers types from
    source.write_text("id,amount\n" + "\n".join(rows) + "\n")
    finished = _run(client, _spec(daemon, source))
    assert finished.state == pb.EXPORT_STATE_FAILED
    assert finished.error.code == "FAILED_PRECONDITION", finished.error
    message = finished.error.message
    assert "amounts.csv" in message and "row 250" in message, message
    assert "'amount'" in message and "int64" in message, message
    assert SECRET_EXTRA not in message
    for stored in (daemon.log_path.read_bytes(), _stored_bytes(daemon.state_dir)):
        assert SECRET_EXTRA.encode() not in stored


def test_skip_exports_the_good_rows_and_counts_the_bad_ones(world) -> None:  # type: ignore[no-untyped-def]
    daemon, client = world
    source = daemon.sources / "ragged.csv"
    lines = ["id,name,amount"]
    bad = {5, 1500, 1501, 2999}  # spread over chunks, two together, one just before the end
    for i in range(3000):
        if i in bad:
            lines.append(f"{i},extra,{i},{SECRET_EXTRA}" if i % 2 else f"{i},short")
        else:
            lines.append(f"{i},n{i},{i * 3}")
    lines.append(f"9999,{SECRET_EXTRA},1,2,3")  # after the last good row
    source.write_text("\n".join(lines) + "\n")

    result = _sluice(
        daemon,
        "export",
        "create",
        "--source",
        str(source),
        "--to",
        str(daemon.exports),
        "--dataset",
        "ragged",
        "--chunk-rows",
        "1000",
        "--on-bad-rows",
        "skip",
        "--wait",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    finished = json.loads(result.stdout)
    out = read_export(finished["manifest_uri"])
    assert out["id"].to_list() == [i for i in range(3000) if i not in bad]
    assert out["amount"].to_list() == [i * 3 for i in range(3000) if i not in bad]
    manifest = load_manifest(finished["manifest_uri"])
    assert manifest["source"]["on_bad_rows"] == "skip"
    assert manifest["source"]["skipped_rows"] == len(bad) + 1
    assert len(manifest["chunks"]) == 3
    assert "source" not in manifest["redaction"]["counts"]

    # The default still fails, naming the first bad line.
    failed = _run(client, _spec(daemon, source))
    assert failed.state == pb.EXPORT_STATE_FAILED
    assert failed.error.code == "FAILED_PRECONDITION"
    assert "ragged.csv" in failed.error.message and "line 7" in failed.error.message


def test_unknown_on_bad_rows_and_bad_schemas_are_invalid_arguments(world) -> None:  # type: ignore[no-untyped-def]
    daemon, client = world
    csv = daemon.sources / "plain.csv"
    csv.write_text("id,zip\n1,02134\n")
    parquet = daemon.sources / "plain.parquet"
    pl.DataFrame({"id": [1]}).write_parquet(parquet)
    cases = [
        (_spec(daemon, csv, on_bad_rows="ignore"), "spec.source.on_bad_rows"),
        (_spec(daemon, csv, source_schema={"zip": "varchar"}), "spec.source.schema"),
        (_spec(daemon, csv, source_schema={"nope": "str"}), "spec.source.schema"),
        (_spec(daemon, csv, source_schema={"": "str"}), "spec.source.schema"),
        (_spec(daemon, parquet, source_schema={"id": "str"}), "spec.source.schema"),
    ]
    for spec, field in cases:
        with pytest.raises(InvalidArgumentError) as raised:
            client.create(spec)
        assert [v.field for v in raised.value.violations] == [field], raised.value.message


def test_schema_keeps_zip_codes_and_cards_as_text(world) -> None:  # type: ignore[no-untyped-def]
    daemon, client = world
    source = daemon.sources / "customers.csv"
    source.write_text(
        "id,zip,card,note\n1,02134,4111111111111111,a\n2,00501,5500000000000004,b\n3,90210,,c\n"
    )
    inferred = _run(client, _spec(daemon, source))
    assert read_export(inferred.manifest_uri)["zip"].to_list() == [2134, 501, 90210]

    result = _sluice(
        daemon,
        "export",
        "create",
        "--source",
        str(source),
        "--to",
        str(daemon.exports),
        "--dataset",
        "customers",
        "--schema",
        "zip:str, card:string,id:int32",
        "--wait",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    export = json.loads(result.stdout)
    out = read_export(export["manifest_uri"])
    assert out["zip"].to_list() == ["02134", "00501", "90210"]
    assert out["card"].to_list() == ["4111111111111111", "5500000000000004", None]
    manifest = load_manifest(export["manifest_uri"])
    types = {f["name"]: f["type"] for f in manifest["schema"]}
    assert types["id"] == "int32" and types["zip"] in {"string", "large_string", "string_view"}
    assert manifest["source"]["schema"] == {"zip": "str", "card": "str", "id": "int32"}

    # Under strict redaction the text card is masked like any card in text.
    spec = _spec(
        daemon,
        source,
        source_schema={"card": "str"},
        redaction=pb.Redaction(level="strict"),
    )
    strict = read_export(_run(client, spec).manifest_uri)
    assert strict["card"].to_list() == ["************1111", "************0004", None]
