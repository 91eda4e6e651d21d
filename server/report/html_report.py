"""report.html: one self-contained HTML5 page (inline CSS and SVG, no scripts, fonts,
images or links to anything outside it), so it opens offline and leaks nothing."""

from __future__ import annotations

from html import escape

from sluice.server.report.model import ChunkBar, ReportModel

_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.6em; text-align: left; }
th { background: #eee; }
dt { font-weight: bold; float: left; clear: left; width: 10em; }
dd { margin-left: 11em; }
svg { margin-right: 2em; }
"""


def render_html(report: ReportModel) -> bytes:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(report.title)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{escape(report.title)}</h1>",
        "<dl>",
        *(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in report.summary),
        "</dl>",
    ]
    if report.chunks:
        parts += [
            "<h2>Records and bytes per chunk</h2>",
            _bars(report.chunks, "records", lambda c: c.records, "#4a7ab5"),
            _bars(report.chunks, "stored bytes", lambda c: c.stored_bytes, "#b5834a"),
        ]
    for table in report.tables:
        parts += [
            f"<h2>{escape(table.title)}</h2>",
            "<table><thead><tr>",
            *(f"<th>{escape(h)}</th>" for h in table.header),
            "</tr></thead><tbody>",
            *(
                "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>"
                for row in table.rows
            ),
            "</tbody></table>",
        ]
    parts.append("</body></html>\n")
    return "\n".join(parts).encode()


def _bars(chunks: tuple[ChunkBar, ...], label: str, value: object, colour: str) -> str:
    """An inline SVG bar chart, one bar per chunk."""
    assert callable(value)
    values = [int(value(c)) for c in chunks]
    top = max(values) or 1
    width, height, bar = 360, 160, max(2.0, 320 / len(values))
    rects = "".join(
        f'<rect x="{30 + i * bar:.1f}" y="{140 - 120 * v / top:.1f}" '
        f'width="{max(1.0, bar - 1):.1f}" height="{120 * v / top:.1f}" fill="{colour}">'
        f"<title>chunk {c.index}: {v:,} {escape(label)}</title></rect>"
        for i, (c, v) in enumerate(zip(chunks, values, strict=True))
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(label)} per chunk">'
        f'<text x="30" y="14" font-size="12">{escape(label)} per chunk (max {top:,})</text>'
        f'<line x1="30" y1="140" x2="{width - 10}" y2="140" stroke="#333"/>{rects}</svg>'
    )
