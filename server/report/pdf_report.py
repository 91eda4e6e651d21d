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
from reportlab.lib.styles import getSampleStyleSheet
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


def render_pdf(report: ReportModel) -> bytes:
    styles = getSampleStyleSheet()
    cell = styles["BodyText"].clone("cell", fontSize=8, leading=10)
    story: list[object] = [Paragraph(escape(report.title), styles["Title"])]
    summary = [[Paragraph(escape(k), cell), Paragraph(escape(v), cell)] for k, v in report.summary]
    story += [PdfTable(summary, colWidths=[110, 370], style=_GRID), Spacer(1, 12)]
    if report.chunks:
        story.append(Paragraph("Records and bytes per chunk", styles["Heading2"]))
        story.append(_chart(report.chunks, "records", [c.records for c in report.chunks]))
        story.append(_chart(report.chunks, "stored bytes", [c.stored_bytes for c in report.chunks]))
    for table in report.tables:
        story.append(Paragraph(escape(table.title), styles["Heading2"]))
        rows = [[Paragraph(escape(h), cell) for h in table.header]]
        rows += [[Paragraph(escape(v), cell) for v in row] for row in table.rows]
        story += [PdfTable(rows, style=_GRID, repeatRows=1), Spacer(1, 8)]
    out = io.BytesIO()
    document = SimpleDocTemplate(out, pagesize=A4, title=report.title, author="Sluice")
    document.build(story)
    return out.getvalue()


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
