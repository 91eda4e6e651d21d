"""README.html of a GDPR subject package: a letter to the person saying what data is held
about them (each source's description), how many records of each the package holds, in
which files, and the controller's texts from the server's `[gdpr]` table (purposes,
retention, recipients, controller, contact).

Every text is escaped (configured texts and source descriptions show as written, markup
included); the page is self-contained (inline style, no scripts, no remote resources).

The page names the subject, so it is personal data too: an encrypted package stores it
through the package's own cipher (`sealed_readme`), never in the clear beside the files."""

from __future__ import annotations

from html import escape

from sluice.format.layout import README_HTML_NAME
from sluice.format.manifest import Manifest
from sluice.server.pipeline.config import PipelineConfig
from sluice.server.planning.encryption import ZIP_AES_SCHEME
from sluice.server.planning.subject_package import PackagePlan, ignores_case

_STYLE = (
    "body{font-family:sans-serif;max-width:50em;margin:2em auto;padding:0 1em;"
    "line-height:1.5}table{border-collapse:collapse}th,td{border:1px solid #999;"
    "padding:.3em .6em;text-align:left}td.n{text-align:right}"
)


def render_readme(package: PackagePlan, manifest: Manifest) -> bytes:
    """The README of `package`, whose manifest (without documents) is `manifest`."""
    info = manifest.subject_package
    assert info is not None
    gdpr = package.gdpr
    rows = []
    sources = dict.fromkeys(part.source for part in info.parts)
    for source in sources:
        parts = [part for part in info.parts if part.source == source]
        files = [
            manifest.chunks[index].path
            for part in parts
            for index in part.chunks
            if index < len(manifest.chunks)
        ]
        rows.append(
            "<tr>"
            f"<td>{escape(source)}</td>"
            f"<td>{escape(parts[0].description) or '&nbsp;'}</td>"
            f'<td class="n">{parts[0].records}</td>'
            f"<td>{'<br>'.join(escape(name) for name in files) or 'none'}</td>"
            "</tr>"
        )
    finished = manifest.finished_at.strftime("%Y-%m-%d %H:%M UTC") if manifest.finished_at else ""
    body = [
        "<h1>Your personal data</h1>",
        f"<p>This package holds the personal data {escape(gdpr.controller)} holds about you, "
        f"as of {escape(finished)} (package {escape(manifest.export_id)}).</p>",
        "<h2>What data we hold</h2>",
        "<table><thead><tr><th>Category</th><th>What it is</th><th>Records</th>"
        "<th>Files</th></tr></thead><tbody>",
        *rows,
        "</tbody></table>",
        "<p>Each category is in two files with the same records: JSON (a document whose "
        "<code>data</code> member lists the records) for moving them to another service, "
        "and CSV for spreadsheets. In the CSV files, a text that a spreadsheet would "
        "take for a formula (one beginning with =, +, -, @, a tab or a carriage return), "
        "column names included, starts with an apostrophe (') added so that it is not run "
        "as a formula; the apostrophe may show in the spreadsheet and is not part of your "
        "data. The JSON files hold such a text as it is."
        + (
            f" Your records were found by your e-mail address {escape(package.subject_id)} "
            "written in any case (capital letters or not)."
            if ignores_case(package.subject_id)
            else ""
        )
        + (
            " E-mail addresses, phone numbers and names of other people that appear in "
            "your records are replaced by tags such as <code>[EMAIL]</code>."
            if package.redacts_others
            else ""
        )
        + "</p>",
        *_section("Why we process it", gdpr.purposes),
        *_section("How long we keep it", gdpr.retention),
        *_section("Who receives it", gdpr.recipients),
        *_section("Who is responsible", gdpr.controller),
        *_section("How to reach us", gdpr.contact),
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>Your personal data</title>\n"
        f"<style>{_STYLE}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )
    return page.encode()


def _section(title: str, text: str) -> list[str]:
    """A heading and the text's paragraphs (blank lines apart); nothing for no text."""
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    if not paragraphs:
        return []
    return [
        f"<h2>{escape(title)}</h2>",
        *(f"<p>{escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs),
    ]


def sealed_readme(pipeline: PipelineConfig, page: bytes) -> tuple[str, str, bytes]:
    """(stored name, media type, stored bytes) of the README in a package written by
    `pipeline`: README.html in its own AES zip with the files' password (opens with the
    same 7-Zip command), README.html.age to the files' recipients, or README.html as it
    is when the files are not encrypted."""
    cipher = pipeline.cipher
    if cipher.name == ZIP_AES_SCHEME:
        # The files' zip compressor has the password bound; one worker, as it is small.
        zipped = pipeline.compressor.make(pipeline.level, 1, README_HTML_NAME)
        body = b"".join((zipped.compress(page), zipped.flush()))
        return f"{README_HTML_NAME}{pipeline.compressor.extension}", "application/zip", body
    if cipher.extension:
        sealer = cipher.make()
        body = b"".join((sealer.encrypt(page), sealer.finish()))
        return f"{README_HTML_NAME}{cipher.extension}", "application/octet-stream", body
    return README_HTML_NAME, "text/html", page
