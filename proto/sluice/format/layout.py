"""Where an export's objects are: the names inside an export folder and the folder's
key under a destination (ARCHITECTURE.md, "Storage layout"):

    <dataset>/<export_id>/part-000000.<ext>[.zst|.gz|.zip][.age]
    <dataset>/<export_id>/index.arrows             keyed exports: the key index
    <dataset>/<export_id>/tombstones.<ext>...      key-only increments with deletions
    <dataset>/<export_id>/records.xsd              XML exports: the chunks' XML Schema
    <dataset>/<export_id>/manifest.json.sig        written before the manifest
    <dataset>/<export_id>/manifest.json            written last: it commits the export
"""

from __future__ import annotations

import re

MANIFEST_NAME = "manifest.json"
#: What the signature's name adds to the manifest's.
SIGNATURE_SUFFIX = ".sig"
SIGNATURE_NAME = MANIFEST_NAME + SIGNATURE_SUFFIX
#: Objects of an export folder that are not data (listed by no manifest entry).
METADATA_NAMES = frozenset({MANIFEST_NAME, SIGNATURE_NAME})
INDEX_NAME = "index.arrows"
#: Exports asked for a report (`--report`): the same report as HTML and as PDF.
REPORT_HTML_NAME = "report.html"
REPORT_PDF_NAME = "report.pdf"
#: XML exports: the XML Schema every chunk validates against (listed in "documents").
XML_SCHEMA_NAME = "records.xsd"
#: The tombstone file's name before its extensions (those of the chunks).
TOMBSTONES_STEM = "tombstones"
#: A chunk's file name: its index in six or more digits, then the extensions (a subject
#: package's chunks say their source first: part-000002.orders.json.zip).
CHUNK_NAME = re.compile(r"^part-(\d{6,})\.[A-Za-z0-9._-]+$")
#: A subject package's letter to the person (GDPR packages).
README_HTML_NAME = "README.html"
#: An export id (the name of an export's folder): its UTC start time, then 12 hex digits.
EXPORT_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}")


def chunk_stem(index: int, label: str = "") -> str:
    """A chunk's file name before its extensions: `part-000003` (`part-000003.orders`
    with a label)."""
    return f"part-{index:06d}.{label}" if label else f"part-{index:06d}"


def chunk_path_fits(path: str, position: int, index: int) -> bool:
    """A manifest's chunk at `position` names a plain file whose number is its position
    (and so does its index): a manifest cannot point outside its folder or reorder
    chunks unnoticed."""
    match = CHUNK_NAME.fullmatch(path)
    return match is not None and int(match.group(1)) == position and index == position


def is_plain_name(path: str) -> bool:
    """A name of a file inside an export folder itself (no folder, nothing above it)."""
    return bool(path) and path not in (".", "..") and not any(c in path for c in "/\\\0")


def export_folder(dataset: str, export_id: str) -> str:
    """The key of an export's folder, relative to its destination."""
    return f"{dataset}/{export_id}"


def manifest_key(folder: str) -> str:
    """The manifest's key in an export folder (a key or a URI without a trailing '/')."""
    return f"{folder.rstrip('/')}/{MANIFEST_NAME}"


def signature_key(manifest: str) -> str:
    """The signature's key beside a manifest's key or URI."""
    return manifest + SIGNATURE_SUFFIX
