"""The xml, yaml and markdown formats through a real daemon: chunked, compressed and
encrypted like the others, read back by their own tools (7-Zip, age, lxml with the XSD
the manifest lists, yaml.safe_load), verified by `sluice export verify`; pickle refused."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
import zstandard
from lxml import etree

from sluice.client import ExportClient, InvalidArgumentError
from tests.daemon import Daemon, run_cli
from tests.integration.helpers import manifest_path
from tests.unit.test_age_format import need
from tests.unit.test_text_formats import awkward_frame, normalized, source_records

pytestmark = pytest.mark.integration
ZIP_PASSWORD = "zip pass 123"
#: The awkward rows repeated: several chunks of a few rows each.
COPIES = 6


class TomlTable(dict[str, str]):
    def __str__(self) -> str:
        return "{ " + ", ".join(f'{k} = "{v}"' for k, v in self.items()) + " }"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    root = tmp_path_factory.mktemp("text-formats")
    (root / "zip").write_text(ZIP_PASSWORD + "\n")
    made = Daemon(
        root=root / "daemon",
        settings={"secrets": TomlTable(zip=f"file:{root / 'zip'}")},
    )
    made.start()
    frame = awkward_frame()
    for _ in range(COPIES - 1):
        frame = frame.vstack(awkward_frame())
    frame.write_parquet(made.sources / "people.parquet")
    yield made
    made.stop(timeout=20)


def export(daemon: Daemon, **options: Any) -> Path:
    with ExportClient(daemon.address) as client:
        spec = ExportClient.build_spec(
            source=str(daemon.sources / "people.parquet"),
            to=str(daemon.exports),
            dataset="people",
            chunk_rows=40,
            **options,
        )
        finished = client.wait(client.create(spec).id, timeout=120)
    assert finished.manifest_uri, finished
    return manifest_path(finished.manifest_uri)


def test_xml_in_aes_zip_opens_with_7zip_and_validates_against_the_listed_xsd(
    daemon: Daemon, tmp_path: Path
) -> None:
    seven = need("7z")
    manifest_file = export(daemon, format="xml", compression="zip", zip_password_secret="zip")
    manifest = json.loads(manifest_file.read_text())
    folder = manifest_file.parent
    [xsd] = manifest["documents"]
    stored = (folder / xsd["path"]).read_bytes()
    assert xsd["path"] == "records.xsd" and xsd["media_type"] == "application/xml"
    assert (xsd["stored_bytes"], xsd["sha256"]) == (len(stored), hashlib.sha256(stored).hexdigest())
    schema = etree.XMLSchema(etree.fromstring(stored))
    assert len(manifest["chunks"]) > 1
    records = 0
    for chunk in manifest["chunks"]:
        assert chunk["path"].endswith(".xml.zip")
        subprocess.run(
            [seven, "x", "-y", f"-p{ZIP_PASSWORD}", f"-o{tmp_path}", str(folder / chunk["path"])],
            capture_output=True,
            check=True,
        )
        document = etree.parse(
            str(tmp_path / chunk["path"].removesuffix(".zip")), etree.XMLParser(huge_tree=True)
        )
        schema.assertValid(document)
        assert len(document.getroot()) == chunk["records"]
        records += chunk["records"]
    assert records == manifest["totals"]["records"] == COPIES * awkward_frame().height
    verified = run_cli(daemon, "export", "verify", str(manifest_file))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "ok" in verified.stdout


def test_yaml_encrypted_with_age_reads_back_with_safe_load(daemon: Daemon, tmp_path: Path) -> None:
    age = need("age")
    key_file = tmp_path / "identity.txt"
    recipient = run_cli(daemon, "keygen", "-o", str(key_file)).stdout.strip()
    manifest_file = export(daemon, format="yaml", encrypt_to=[recipient])
    manifest = json.loads(manifest_file.read_text())
    assert "documents" not in manifest
    read: list[Any] = []
    for chunk in manifest["chunks"]:
        assert chunk["path"].endswith(".yaml.zst.age")
        decrypted = subprocess.run(
            [age, "-d", "-i", str(key_file), str(manifest_file.parent / chunk["path"])],
            capture_output=True,
            check=True,
        ).stdout
        text = zstandard.ZstdDecompressor().decompressobj().decompress(decrypted)
        part = yaml.safe_load(io.BytesIO(text))
        assert len(part) == chunk["records"]
        read.extend(part)
    expected = awkward_frame().with_columns(price=awkward_frame()["price"].cast(str))
    assert normalized(read) == source_records(expected) * COPIES


def test_markdown_chunks_are_tables_with_one_line_per_record(daemon: Daemon) -> None:
    manifest_file = export(daemon, format="markdown", compression="none")
    manifest = json.loads(manifest_file.read_text())
    for chunk in manifest["chunks"]:
        text = (manifest_file.parent / chunk["path"]).read_text()
        assert text.startswith(f"# people: export {manifest['export_id']}, chunk {chunk['index']}")
        assert text.count("\n| ") == chunk["records"] + 2  # the header, the rule, the rows
    # Records in a table for people are not read back by `sluice export read`; it says so.
    read = run_cli(daemon, "export", "read", str(manifest_file))
    assert read.returncode == 1 and read.stdout == ""
    assert "markdown exports are read with a Markdown viewer" in read.stderr


def test_pickle_is_refused_and_the_error_says_why(daemon: Daemon) -> None:
    with ExportClient(daemon.address) as client:
        spec = ExportClient.build_spec(
            source=str(daemon.sources / "people.parquet"),
            to=str(daemon.exports),
            dataset="people",
            format="pickle",
        )
        with pytest.raises(InvalidArgumentError) as refused:
            client.create(spec)
    assert [v.field for v in refused.value.violations] == ["spec.output.format"]
    assert "runs code" in str(refused.value) and "parquet" in str(refused.value)


def test_xml_years_over_9999_validate_against_the_xsd(daemon: Daemon) -> None:
    # chrono writes year 10000 as "+10000-01-01" (ISO 8601's expanded form); xs:date and
    # xs:dateTime take "10000-01-01". A 9999-12-31 sentinel seen in Paris is in 10000.
    us = 10**6
    days_to_10000 = 2932897  # 10000-01-01 - 1970-01-01
    pq.write_table(
        pa.table(
            {
                "id": [0, 1],
                "valid_to": pa.array([253402300799 * us, 0], pa.timestamp("us", "Europe/Paris")),
                "d": pa.array([days_to_10000, 0], pa.date32()),
                "ds": pa.array([[days_to_10000, None], []], pa.list_(pa.date32())),
            }
        ),
        daemon.sources / "far_years.parquet",
    )
    with ExportClient(daemon.address) as client:
        spec = ExportClient.build_spec(
            source=str(daemon.sources / "far_years.parquet"),
            to=str(daemon.exports),
            dataset="far-years",
            format="xml",
            compression="none",
        )
        manifest_file = manifest_path(client.wait(client.create(spec).id, timeout=120).manifest_uri)
    folder = manifest_file.parent
    schema = etree.XMLSchema(etree.parse(str(folder / "records.xsd")))
    [chunk] = json.loads(manifest_file.read_text())["chunks"]
    document = etree.parse(str(folder / chunk["path"]))
    assert schema.validate(document), [e.message for e in schema.error_log]
    first = document.getroot()[0]
    assert first.findtext("valid_to") == "10000-01-01T00:59:59.000000+01:00"
    assert first.findtext("d") == "10000-01-01"
    assert [item.text for item in first.find("ds")] == ["10000-01-01", None]
