"""report.pdf, drawn with ReportLab from the same ReportModel as report.html.

ReportLab rather than WeasyPrint: it is a self-contained wheel (no Pango, Cairo or
GDK-Pixbuf system libraries to install on every daemon host and image), it never
fetches anything a document refers to, and its charts are drawn natively; the price is
that the PDF is laid out from the model, not from the HTML itself."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, TableStyle
from reportlab.platypus import Table as PdfTable

from sluice.server.report.model import ChunkBar, ReportModel

_GRID = TableStyle(
    [
        ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
        ("FONTSIZE", (0, 0), (-1, -1), 8),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
)
#: A table's width (A4 less SimpleDocTemplate's margins), its cells' padding each side
#: (TableStyle's default) and the widest a character of the 8-point cell font gets.
_WIDTH = A4[0] - 2 * 72
_PADDING = 6
_CHAR_POINTS = 8
#: The lines one cell may take: a table row cannot break across pages, so a value taller
#: than a page (a `where` listing 200 e-mail addresses) stopped the whole document
#: (LayoutError) after the export's chunks were stored. 30 lines of 10 points, with the
#: header row and the line saying what was left out, fit a page whatever the column.
MAX_CELL_LINES = 30


def render_pdf(report: ReportModel) -> bytes:
    """report.pdf: every table with column widths of its own (a long token then wraps
    where ReportLab's automatic widths failed with a negative width), each value cut
    to the lines its column fits on a page. report.html shows the values whole."""
    styles = getSampleStyleSheet()
    cell = styles["BodyText"].clone("cell", fontSize=8, leading=10)
    story: list[object] = [Paragraph(escape(report.title), styles["Title"])]
    story += [_table(("", ""), report.summary, cell, widths=[110, _WIDTH - 110]), Spacer(1, 12)]
    if report.chunks:
        story.append(Paragraph("Records and bytes per chunk", styles["Heading2"]))
        story.append(_chart(report.chunks, "records", [c.records for c in report.chunks]))
        story.append(_chart(report.chunks, "stored bytes", [c.stored_bytes for c in report.chunks]))
    for table in report.tables:
        story.append(Paragraph(escape(table.title), styles["Heading2"]))
        story += [_table(table.header, table.rows, cell), Spacer(1, 8)]
    out = io.BytesIO()
    document = SimpleDocTemplate(out, pagesize=A4, title=report.title, author="Sluice")
    document.build(story)
    return out.getvalue()


def _table(
    header: tuple[str, ...],
    rows: tuple[tuple[str, ...], ...],
    cell: ParagraphStyle,
    widths: list[float] | None = None,
) -> PdfTable:
    """A table of `rows` under `header` (none when every heading is empty)."""
    widths = widths or _widths(header, rows)
    lines = [header, *rows] if any(header) else list(rows)
    cells = [
        [Paragraph(escape(_shown(v, width)), cell) for v, width in zip(row, widths, strict=True)]
        for row in lines
    ]
    return PdfTable(cells, colWidths=widths, style=_GRID, repeatRows=1 if any(header) else 0)


def _widths(header: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> list[float]:
    """Column widths sharing the page by the longest value of each column (counted from
    10 to 60 characters: no column too narrow for its heading, none taking the page)."""
    weights = [
        min(max(10, *(len(row[i]) for row in (header, *rows))), 60) for i in range(len(header))
    ]
    return [_WIDTH * weight / sum(weights) for weight in weights]


def _shown(value: str, width: float) -> str:
    """`value` as a cell `width` points wide shows it: whole when it fits
    MAX_CELL_LINES lines of the widest characters, else cut, saying how much is not."""
    per_line = max(1, int((width - 2 * _PADDING) // _CHAR_POINTS))
    most = per_line * MAX_CELL_LINES
    if len(value) <= most:
        return value
    return f"{value[:most]}…, {len(value) - most:,} more characters"


def _chart(chunks: tuple[ChunkBar, ...], label: str, values: list[int]) -> Drawing:
    drawing = Drawing(480, 150)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 50, 20, 400, 100
    chart.data = [values]
    chart.categoryAxis.categoryNames = [str(c.index) for c in chunks]
    chart.categoryAxis.labels.fontSize = 6
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontSize = 6
    chart.bars[0].fillColor = colors.HexColor("#4a7ab5")
    drawing.add(chart)
    drawing.add(String(50, 135, f"{label} per chunk", fontSize=9))
    return drawing
