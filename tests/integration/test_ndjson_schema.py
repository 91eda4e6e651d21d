"""Column types for an NDJSON source (spec.source.schema), through a real daemon: a field
null or absent in the first 100 lines, typed later, is exported with the caller's type
instead of failing its lines or being left out; the types are checked as a CSV source's
are."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from sluice.client import ExportClient, ExportFailedError, InvalidArgumentError
from sluice.v1 import export_pb2 as pb
from tests.daemon import Daemon, run_cli
from tests.integration.helpers import load_manifest, read_export

pytestmark = pytest.mark.integration

ROWS = 300
LATE = 150  # past the 100 lines a schema is inferred from


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, ExportClient]]:
    daemon = Daemon(root=tmp_path_factory.mktemp("ndjson-schema") / "d")
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


def _write(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def _cli_export(daemon: Daemon, source: Path, dataset: str, schema: str) -> dict[str, Any]:
    """`sluice export create --schema SCHEMA` to Parquet (typed output: JSON read back
    would infer from its first lines too), waited for; its JSON answer."""
    result = run_cli(
        daemon, "export", "create", "--source", str(source), "--to", str(daemon.exports),
        "--dataset", dataset, "--schema", schema, "--format", "parquet", "--wait", "--json",
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout, result.stderr)
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def _late_records() -> list[dict[str, object]]:
    """`amount` null and `zip`, `day` absent in the first LATE lines, typed after."""
    records: list[dict[str, object]] = []
    for i in range(ROWS):
        record: dict[str, object] = {"id": i, "amount": None}
        if i >= LATE:
            record.update(amount=i + 0.5, zip=f"{i:05d}", day="2024-05-01")
        records.append(record)
    return records


def test_fields_null_or_absent_in_the_first_lines_get_the_given_types(world) -> None:  # type: ignore[no-untyped-def]
    daemon, client = world
    source = _write(daemon.sources / "late.ndjson", _late_records())
    # Without types: the null column fails at the first typed line, naming the fix.
    with pytest.raises(ExportFailedError) as failed:
        client.wait(client.create(_spec(daemon, source)).id, timeout=120)
    error = failed.value.export.error
    assert error.code == "FAILED_PRECONDITION", error
    assert f"late.ndjson: line {LATE + 1} " in error.message, error.message
    assert "spec.source.schema" in error.message, error.message

    # With them (before: INVALID_ARGUMENT, column types applied to CSV only).
    finished = _cli_export(daemon, source, "late", "amount:float64,zip:str,day:date")
    out = read_export(finished["manifest_uri"]).sort("id")
    assert out.columns == ["id", "amount", "zip", "day"]
    assert out["id"].to_list() == list(range(ROWS))
    assert out["amount"].to_list() == [None] * LATE + [i + 0.5 for i in range(LATE, ROWS)]
    assert out["zip"].to_list() == [None] * LATE + [f"{i:05d}" for i in range(LATE, ROWS)]
    assert out["day"].to_list() == [None] * LATE + [date(2024, 5, 1)] * (ROWS - LATE)
    manifest = load_manifest(finished["manifest_uri"])
    assert manifest["source"]["schema"] == {"amount": "float64", "zip": "str", "day": "date"}


def test_small_integer_types_are_read_and_out_of_range_values_are_bad_rows(world) -> None:  # type: ignore[no-untyped-def]
    # Polars' NDJSON reader panics on int8/int16/uint8/uint16 ("unexpected dtype"):
    # read wider and cast, a value out of range failing its line like any bad line.
    daemon, client = world
    records: list[dict[str, object]] = [{"id": i, "level": i % 100} for i in range(ROWS)]
    records[200] = {"id": 200, "level": 1000}
    source = _write(daemon.sources / "levels.ndjson", records)
    types = {"id": "uint16", "level": "int8"}
    skipped = client.wait(
        client.create(
            _spec(daemon, source, source_schema=types, on_bad_rows="skip", format="parquet")
        ).id,
        timeout=120,
    )
    assert skipped.state == pb.EXPORT_STATE_SUCCEEDED
    out = read_export(skipped.manifest_uri).sort("id")
    assert out["id"].to_list() == [i for i in range(ROWS) if i != 200]
    assert out["level"].to_list() == [i % 100 for i in range(ROWS) if i != 200]
    assert str(out["level"].dtype) == "Int8"
    assert load_manifest(skipped.manifest_uri)["source"]["skipped_rows"] == 1

    with pytest.raises(ExportFailedError) as failed:
        client.wait(client.create(_spec(daemon, source, source_schema=types)).id, timeout=120)
    error = failed.value.export.error
    assert error.code == "FAILED_PRECONDITION" and "levels.ndjson: line 201 " in error.message


def test_ndjson_types_are_checked_as_csv_types_are(world) -> None:  # type: ignore[no-untyped-def]
    daemon, client = world
    ndjson = _write(daemon.sources / "checked.ndjson", [{"id": 1, "zip": "02134"}])
    csv = daemon.sources / "checked.csv"
    csv.write_text("id,zip\n1,02134\n")
    for source in (ndjson, csv):
        messages = []
        for types in ({"zip": "varchar"}, {"": "str"}):
            with pytest.raises(InvalidArgumentError) as refused:
                client.create(_spec(daemon, source, source_schema=types))
            assert [v.field for v in refused.value.violations] == ["spec.source.schema"]
            messages.append(refused.value.message)
        assert "unknown type 'varchar' for column 'zip'" in messages[0], messages
        assert "a column name is empty" in messages[1], messages
    # A CSV header names every column: an unknown one is still refused.
    with pytest.raises(InvalidArgumentError) as refused:
        client.create(_spec(daemon, csv, source_schema={"nope": "str"}))
    assert [v.field for v in refused.value.violations] == ["spec.source.schema"]


NEW_AT = 500  # the line a field first appears on, long past the 100 inferred from


def _new_field_records() -> list[dict[str, object]]:
    """`note` absent from the first NEW_AT - 1 lines, then on every other line."""
    records: list[dict[str, object]] = []
    for i in range(1000):
        record: dict[str, object] = {"id": i, "name": f"n{i}"}
        if i >= NEW_AT - 1 and i % 2 == 1:
            record["note"] = f"x{i}"
        records.append(record)
    return records


@pytest.mark.parametrize("on_bad_rows", ["fail", "skip"])
def test_a_field_absent_from_the_first_lines_fails_the_export_naming_it(  # type: ignore[no-untyped-def]
    world, on_bad_rows: str
) -> None:
    # On main the export succeeded without `note`: its values were dropped without a word.
    # A schema problem is no bad row: "skip" fails too, rather than drop the field.
    daemon, client = world
    source = _write(daemon.sources / f"new-field-{on_bad_rows}.ndjson", _new_field_records())
    with pytest.raises(ExportFailedError) as failed:
        client.wait(client.create(_spec(daemon, source, on_bad_rows=on_bad_rows)).id, timeout=120)
    error = failed.value.export.error
    assert error.code == "FAILED_PRECONDITION", error
    assert f"new-field-{on_bad_rows}.ndjson: line {NEW_AT} " in error.message, error.message
    assert "'note'" in error.message and "spec.source.schema" in error.message, error.message
    assert "\n" not in error.message


def test_a_late_field_named_in_the_schema_or_left_out_by_columns_is_exported(world) -> None:  # type: ignore[no-untyped-def]
    daemon, client = world
    records = _new_field_records()
    source = _write(daemon.sources / "new-field-named.ndjson", records)
    finished = _cli_export(daemon, source, "named", "note:str")
    out = read_export(finished["manifest_uri"]).sort("id")
    assert out.columns == ["id", "name", "note"]
    assert out["note"].to_list() == [record.get("note") for record in records]

    # Columns chosen: a field outside them is left out by the caller's choice.
    chosen = client.wait(
        client.create(_spec(daemon, source, columns=["id", "name"], format="parquet")).id,
        timeout=120,
    )
    assert chosen.state == pb.EXPORT_STATE_SUCCEEDED
    out = read_export(chosen.manifest_uri).sort("id")
    assert out.columns == ["id", "name"]
    assert out["id"].to_list() == list(range(1000))


NESTED_AT = 1100  # the line a struct's field first appears on, long past the 100


def _nested_records() -> list[dict[str, object]]:
    """`user` is {"id"} on every line, and gains `email` on every other line from
    NESTED_AT on: a field new inside a struct, not at the top."""
    records: list[dict[str, object]] = []
    for i in range(2000):
        user: dict[str, object] = {"id": i}
        if i >= NESTED_AT - 1 and i % 2 == 1:
            user["email"] = f"u{i}@example.com"
        records.append({"id": i, "user": user})
    return records


def test_a_field_new_inside_a_struct_fails_the_export_naming_its_path(world) -> None:  # type: ignore[no-untyped-def]
    # Before: the export succeeded and `user.email` was dropped without a word (top-level
    # fields only were checked). Every column, or `user` chosen: it fails, naming the path
    # and how to declare it; `user` left out by the caller's choice: it exports.
    daemon, client = world
    source = _write(daemon.sources / "nested-new.ndjson", _nested_records())
    for columns in ([], ["id", "user"]):
        with pytest.raises(ExportFailedError) as failed:
            client.wait(client.create(_spec(daemon, source, columns=columns)).id, timeout=120)
        error = failed.value.export.error
        assert error.code == "FAILED_PRECONDITION", error
        assert f"nested-new.ndjson: line {NESTED_AT} " in error.message, error.message
        assert "a field 'user.email' " in error.message, error.message
        assert 'spec.source.schema (CLI --schema), as \'"user"."email":str\'' in error.message
        assert "\n" not in error.message

    chosen = client.wait(
        client.create(_spec(daemon, source, columns=["id"], format="parquet")).id, timeout=120
    )
    assert chosen.state == pb.EXPORT_STATE_SUCCEEDED
    assert read_export(chosen.manifest_uri).sort("id")["id"].to_list() == list(range(2000))


def test_a_struct_field_declared_in_the_schema_is_exported(world) -> None:  # type: ignore[no-untyped-def]
    # Before: a struct's field could not be typed, and stayed dropped. A path of quoted
    # names types a field inside the struct (a plain dotted name is a column's).
    daemon, _ = world
    records = _nested_records()
    source = _write(daemon.sources / "nested-declared.ndjson", records)
    finished = _cli_export(daemon, source, "nested-declared", '"user"."email":str')
    out = read_export(finished["manifest_uri"]).sort("id")
    assert out.columns == ["id", "user"]
    assert out["user"].to_list() == [
        {"id": r["user"]["id"], "email": r["user"].get("email")}  # type: ignore[index,union-attr]
        for r in records
    ]
    schema = load_manifest(finished["manifest_uri"])["source"]["schema"]
    assert schema == {'"user"."email"': "str"}


def test_a_dotted_name_is_a_columns_a_quoted_path_a_fields(world) -> None:  # type: ignore[no-untyped-def]
    # NDJSON logs name top-level fields with dots ("service.name", "user.email"): such a
    # field new past the first lines is declared as a column by its name, even beside a
    # struct `user` (before: `user.email` typed a field inside `user`, and the export
    # failed again with the same remedy); a path of quoted names is a struct's field.
    daemon, client = world
    records = [{"id": i, "user": {"id": i}} for i in range(300)]
    for record in records[200:]:
        record["service.name"] = "api"
    for record in records[250:]:
        record["user.email"] = "a@b.org"
    source = _write(daemon.sources / "dotted-column.ndjson", records)
    with pytest.raises(ExportFailedError) as failed:
        client.wait(client.create(_spec(daemon, source)).id, timeout=120)
    message = failed.value.export.error.message
    assert "line 201 has a field 'service.name' " in message, message
    assert "as 'service.name:str'" in message, message
    with pytest.raises(ExportFailedError) as failed:
        client.wait(
            client.create(_spec(daemon, source, source_schema={"service.name": "str"})).id,
            timeout=120,
        )
    message = failed.value.export.error.message
    assert "line 251 has a field 'user.email' " in message, message
    assert "as 'user.email:str'" in message, message  # the very declaration that works
    declared = {"service.name": "str", "user.email": "str"}
    done = client.wait(
        client.create(_spec(daemon, source, source_schema=declared, format="parquet")).id,
        timeout=120,
    )
    assert done.state == pb.EXPORT_STATE_SUCCEEDED, done.error
    out = read_export(done.manifest_uri).sort("id")
    assert out.columns == ["id", "user", "service.name", "user.email"]
    assert out["user"].to_list() == [{"id": i} for i in range(300)]
    assert out["service.name"].to_list() == [None] * 200 + ["api"] * 100
    assert out["user.email"].to_list() == [None] * 250 + ["a@b.org"] * 50

    with pytest.raises(InvalidArgumentError) as refused:
        client.create(_spec(daemon, source, source_schema={'"user"."id"."x"': "str"}))
    assert [v.field for v in refused.value.violations] == ["spec.source.schema"]
    assert """'"user"."id"."x"' names a field inside a field that is not a struct""" in (
        refused.value.message
    )
    with pytest.raises(InvalidArgumentError) as refused:
        client.create(_spec(daemon, source, source_schema={'"user".email': "str"}))
    assert "is neither a column's name nor a path of quoted names" in refused.value.message


def test_struct_keys_with_dots_are_declared_by_quoted_paths(world) -> None:  # type: ignore[no-untyped-def]
    # Kubernetes labels hold dots in a struct's keys, and a struct column's own name may
    # hold one (before: the message suggested a dotted name that meant another field,
    # and the remedy was refused or typed the wrong field).
    daemon, client = world
    records: list[dict[str, Any]] = [
        {"id": i, "labels": {"app": "a"}, "k8s.pod": {"uid": f"u{i}"}} for i in range(300)
    ]
    for record in records[200:]:
        record["labels"]["app.kubernetes.io/name"] = "web"
    for record in records[250:]:
        record["k8s.pod"]["name"] = "p"
    source = _write(daemon.sources / "dotted-keys.ndjson", records)
    label = '"labels"."app.kubernetes.io/name"'
    with pytest.raises(ExportFailedError) as failed:
        client.wait(client.create(_spec(daemon, source)).id, timeout=120)
    message = failed.value.export.error.message
    assert "line 201 has a field 'labels.app.kubernetes.io/name' " in message, message
    assert f"as '{label}:str'" in message, message
    with pytest.raises(ExportFailedError) as failed:
        client.wait(
            client.create(_spec(daemon, source, source_schema={label: "str"})).id, timeout=120
        )
    message = failed.value.export.error.message
    assert "line 251 has a field 'k8s.pod.name' " in message, message
    assert """as '"k8s.pod"."name":str'""" in message, message

    finished = _cli_export(daemon, source, "dotted-keys", f'{label}:str,"k8s.pod"."name":str')
    out = read_export(finished["manifest_uri"]).sort("id")
    assert out.columns == ["id", "labels", "k8s.pod"]
    assert out["labels"].to_list() == [
        {"app": "a", "app.kubernetes.io/name": r["labels"].get("app.kubernetes.io/name")}
        for r in records
    ]
    assert out["k8s.pod"].to_list() == [
        {"uid": r["k8s.pod"]["uid"], "name": r["k8s.pod"].get("name")} for r in records
    ]
