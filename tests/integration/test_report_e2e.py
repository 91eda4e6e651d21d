"""`--report` through a real daemon: report.html and report.pdf beside the manifest,
listed with sha256; the PDF renders to a non-blank page (pdftoppm) whose text
(pdftotext) names the export and its record total; the HTML parses as HTML5 (html5lib,
strict) and refers to nothing outside itself; an incremental export lists its parent."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import html5lib
import polars as pl
import pytest

from tests.daemon import Daemon, run_cli
from tests.integration.helpers import manifest_path
from tests.unit.test_age_format import need

pytestmark = pytest.mark.integration
ROWS = 1_234


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    made = Daemon(root=tmp_path_factory.mktemp("report") / "daemon")
    made.start()
    pl.DataFrame(
        {
            "id": list(range(ROWS)),
            "seq": list(range(ROWS)),
            "contact": [f"mail me at person{i}@example.com" for i in range(ROWS)],
        }
    ).write_parquet(made.sources / "people.parquet")
    yield made
    made.stop(timeout=20)


def export(daemon: Daemon, *options: str) -> Path:
    result = run_cli(
        daemon,
        "export",
        "create",
        "--source",
        str(daemon.sources / "people.parquet"),
        "--to",
        str(daemon.exports),
        "--dataset",
        "people",
        "--chunk-rows",
        "300",
        "--redact",
        "moderate",
        "--cursor",
        "seq",
        "--report",
        *options,
        "--wait",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    return manifest_path(json.loads(result.stdout)["manifest_uri"])


@pytest.fixture(scope="module")
def reported(daemon: Daemon) -> Path:
    return export(daemon, "--mode", "full")


def test_the_reports_are_listed_with_their_digests_and_verify(
    daemon: Daemon, reported: Path
) -> None:
    manifest = json.loads(reported.read_text())
    documents = {d["path"]: d for d in manifest["documents"]}
    assert set(documents) == {"report.html", "report.pdf"}
    assert documents["report.pdf"]["media_type"] == "application/pdf"
    for name, entry in documents.items():
        data = (reported.parent / name).read_bytes()
        assert (entry["stored_bytes"], entry["sha256"]) == (
            len(data),
            hashlib.sha256(data).hexdigest(),
        )
    verified = run_cli(daemon, "export", "verify", str(reported))
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_the_pdf_renders_and_names_the_export_and_its_total(reported: Path) -> None:
    pdftoppm, pdftotext = need("pdftoppm"), need("pdftotext")
    pdf = reported.parent / "report.pdf"
    page = subprocess.run(
        [pdftoppm, "-f", "1", "-l", "1", "-r", "40", "-gray", str(pdf)],
        capture_output=True,
        check=True,
    ).stdout
    # A PGM: "P5\n<width> <height>\n255\n" then one byte per pixel.
    assert page.startswith(b"P5")
    pixels = page.split(b"\n", 3)[3]
    dark = sum(1 for p in pixels if p < 128)
    assert dark > len(pixels) // 200, "the first page is blank"
    text = subprocess.run(
        [pdftotext, "-layout", str(pdf), "-"], capture_output=True, check=True, text=True
    ).stdout
    export_id = json.loads(reported.read_text())["export_id"]
    assert export_id in text
    assert f"{ROWS:,}" in text
    assert "EMAIL" in text  # the redaction counts per rule


def test_the_html_is_valid_html5_and_self_contained(reported: Path) -> None:
    data = (reported.parent / "report.html").read_bytes()
    document = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(data)
    text = "".join(document.itertext())
    manifest = json.loads(reported.read_text())
    assert manifest["export_id"] in text and f"{ROWS:,}" in text
    elements = list(document.iter())
    assert not [e.tag for e in elements if e.tag in {"script", "link", "img", "iframe", "object"}]
    assert not [e.tag for e in elements if e.get("src") or e.get("href")]
    assert b"url(" not in data and b"@import" not in data
    # One bar per chunk in each of the two charts.
    bars = [e for e in elements if str(e.tag).endswith("rect")]
    assert len(bars) == 2 * len(manifest["chunks"])


def test_an_incremental_report_lists_its_parent(daemon: Daemon, reported: Path) -> None:
    child = export(daemon, "--mode", "incremental")
    parent_id = json.loads(reported.read_text())["export_id"]
    assert json.loads(child.read_text())["parent_export_id"] == parent_id
    html = (child.parent / "report.html").read_text()
    assert "Parent chain" in html and html.count(parent_id) >= 2


def test_a_long_where_is_reported_cut_short_and_the_export_commits(daemon: Daemon) -> None:
    """A `where` listing 200 people (4,895 characters, a third of its limit) was one
    table cell taller than a page: the PDF failed with LayoutError after every chunk was
    stored, the export FAILED as INTERNAL and its folder kept chunks without a manifest."""
    wanted = [f"mail me at person{i}@example.com" for i in range(200)]
    where = "contact IN (" + ", ".join(f"'{value}'" for value in wanted) + ")"
    result = run_cli(
        daemon, "export", "create", "--source", str(daemon.sources / "people.parquet"),
        "--to", str(daemon.exports), "--dataset", "listed", "--where", where, "--report",
        "--wait", "--json",
    )  # fmt: skip
    assert result.returncode == 0, json.loads(result.stdout)["error"]
    manifest = manifest_path(json.loads(result.stdout)["manifest_uri"])
    assert json.loads(manifest.read_text())["totals"]["records"] == 200
    text = subprocess.run(
        [need("pdftotext"), str(manifest.parent / "report.pdf"), "-"],
        capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    assert "more characters" in " ".join(text.split())
    # report.html has no pages to fit: it shows the whole `where`, as the manifest does.
    assert "person199@example.com" in (manifest.parent / "report.html").read_text()
