"""report.pdf from report models holding long values (server/report/pdf_report.py): a
table row cannot break across pages, so one value taller than a page (a `where` listing
200 e-mail addresses, 4,895 characters, well under its 16,384-character limit) stopped
the whole document with LayoutError, and one long token (no space to wrap at) with
ValueError; both failed the export as INTERNAL after its chunks were stored. Every value
a legal spec can hold renders; a value cut short says how much was left out."""

from __future__ import annotations

import subprocess

import pytest

from sluice.server.report.model import ReportModel, Table
from sluice.server.report.pdf_report import render_pdf
from tests.unit.test_age_format import need

IN_LIST = "email IN (" + ", ".join(f"'person{i}@example.com'" for i in range(200)) + ")"


def model(where: str = "id > 1", column: str = "id", source: str = "people") -> ReportModel:
    return ReportModel(
        "Sluice export e",
        "e",
        (("Export", "e"), ("Source", source)),
        (
            Table("Request", ("field", "value"), (("where", where),)),
            Table("Schema", ("column", "type", "nullable"), ((column, "String", "yes"),)),
            Table(
                "Chunks",
                ("chunk", "file", "records", "stored bytes", "sha256"),
                (("0", "part-000000.jsonl.zst", "1", "10", "ab" * 8 + "…"),),
            ),
        ),
        (),
    )


def pdf_text(pdf: bytes) -> str:
    return subprocess.run(
        [need("pdftotext"), "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()


CASES = {
    "an IN list of 200 addresses": model(where=IN_LIST),
    "16,000 characters with spaces": model(where=" ".join(["amount > 1 or"] * 1200) + " x > 1"),
    "one 9,000-character token": model(where="url = '" + "a" * 9_000 + "'"),
    "16,384 wide letters, no space": model(where="W" * 16_384),
    "a 4,096-character source URI": model(source="s3://bucket/" + "k" * 4_084),
    "a long column name": model(column="c" * 1_000),
    "every table's every cell long": ReportModel(
        "t",
        "e",
        (("x" * 5_000, "y" * 5_000),),
        (Table("Chunks", ("a", "b", "c", "d", "e"), (("W" * 5_000,) * 5,) * 3),),
        (),
    ),
}


@pytest.mark.parametrize("report", CASES.values(), ids=list(CASES))
def test_a_long_value_renders(report: ReportModel) -> None:
    assert render_pdf(report).startswith(b"%PDF-")


def test_a_value_cut_short_says_how_much_is_left_out() -> None:
    text = " ".join(pdf_text(render_pdf(model(where=IN_LIST))).split())
    assert "'person0@example.com'" in text
    shown = text[text.index("email IN (") :]
    left_out = int(shown.split(" more characters")[0].rsplit(", ", 1)[1].replace(",", ""))
    assert 0 < left_out < len(IN_LIST)


def test_short_values_are_shown_whole() -> None:
    text = pdf_text(render_pdf(model(where="email = 'alice@example.com'")))
    assert "email = 'alice@example.com'" in text and "more characters" not in text


def test_a_report_that_cannot_be_drawn_fails_its_export_as_a_precondition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Should ReportLab fail all the same, the export says so as FAILED_PRECONDITION (it
    was INTERNAL) without ReportLab's message, which quotes the cells."""
    from reportlab.platypus.doctemplate import LayoutError

    from sluice.server.errors import ErrorCode, FailedPrecondition
    from sluice.server.execution.documents import render_reports
    from sluice.server.report import pdf_report

    def fails(report: ReportModel) -> bytes:
        raise LayoutError("cell(1,1) containing 'alice@example.com' too large")

    monkeypatch.setattr(pdf_report, "render_pdf", fails)
    with pytest.raises(FailedPrecondition) as caught:
        render_reports(model(where="email = 'alice@example.com'"))
    assert caught.value.code == ErrorCode.FAILED_PRECONDITION
    assert "the report could not be drawn (reportlab.platypus.doctemplate.LayoutError)" in (
        caught.value.message
    )
    assert "alice" not in caught.value.message and "--report" in caught.value.message
