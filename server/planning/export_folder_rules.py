"""A destination never reaches into an export's folder. Roots alone do not stop it:
principals sharing a destination root could otherwise name another's export folder
(`<shared>/<dataset>/<export_id>`) as a destination, or a dataset called `manifest.json`,
and put objects into a folder its creator verifies, commits and deletes as a whole (a
folder named `manifest.json` blocks the creator's commit; on a store, deleting the
creator's export removes the intruder's objects too).

So, before any I/O and without looking at what exists (the answer must not tell a caller
whether another's export is there): no segment of the destination or dataset (split at
`/` and `\\`) may begin with the shape of an export id — a store or file system may drop
what follows (Azure Blob drops a segment's trailing dots, Windows trailing dots and
spaces), so `<id>.` or `<id> ` would reach the export's folder — and a dataset may not
bear the name of a file an export folder holds. Both are refused as INVALID_ARGUMENT
naming the field."""

from __future__ import annotations

import re

from sluice.format.layout import (
    CHUNK_NAME,
    EXPORT_ID,
    INDEX_NAME,
    METADATA_NAMES,
    README_HTML_NAME,
    REPORT_HTML_NAME,
    REPORT_PDF_NAME,
    TOMBSTONES_STEM,
    XML_SCHEMA_NAME,
)
from sluice.server.errors import InvalidArgument

#: Export ids are matched case-blind: a case-insensitive file system (macOS, Windows)
#: reaches the same folder through `…Z-ABCDEF…`.
_EXPORT_ID = re.compile(EXPORT_ID.pattern, re.IGNORECASE)
#: Names an export folder holds exactly (lower case).
_FOLDER_FILES = frozenset(
    name.lower()
    for name in (
        *METADATA_NAMES,
        INDEX_NAME,
        XML_SCHEMA_NAME,
        REPORT_HTML_NAME,
        REPORT_PDF_NAME,
        README_HTML_NAME,
    )
)
#: Names an export folder holds by their beginning (extensions vary with the output).
_FOLDER_PREFIXES = (f"{TOMBSTONES_STEM}.", f"{README_HTML_NAME.lower()}.")
_CHUNK = re.compile(CHUNK_NAME.pattern, re.IGNORECASE)
#: Folder separators: `\\` too, which Windows and some store clients read as one.
_SEPARATORS = re.compile(r"[/\\]")

#: What a caller is told (the rule, never what lies at the destination).
EXPORT_FOLDER_RULE = (
    "may not name an export's folder or lie inside one (no path segment may begin with "
    "the shape of an export id, YYYYMMDDTHHMMSSZ-<12 hex digits>)"
)
EXPORT_FILE_RULE = (
    "may not be the name of a file an export folder holds (manifest.json, "
    "manifest.json.sig, index.arrows, records.xsd, report.html, report.pdf, README.html*, "
    "tombstones.*, part-NNNNNN.*)"
)


def check_outside_export_folders(destination: str, dataset: str) -> None:
    """InvalidArgument unless `destination` (a resolved local folder or a store URI) and
    `dataset` keep the export folder this export writes out of every other export's."""
    if any(_EXPORT_ID.match(segment) for segment in _segments(destination)):
        raise InvalidArgument("spec.destination.uri", EXPORT_FOLDER_RULE)
    if any(_EXPORT_ID.match(segment) for segment in _SEPARATORS.split(dataset)):
        raise InvalidArgument("spec.destination.dataset", EXPORT_FOLDER_RULE)
    if is_export_file_name(dataset):
        raise InvalidArgument("spec.destination.dataset", EXPORT_FILE_RULE)


def is_export_file_name(name: str) -> bool:
    """Whether `name` is (case-blind) one an export folder may hold besides folders."""
    lower = name.lower()
    return (
        lower in _FOLDER_FILES
        or lower.startswith(_FOLDER_PREFIXES)
        or _CHUNK.fullmatch(name) is not None
    )


def _segments(destination: str) -> list[str]:
    _scheme, separator, rest = destination.partition("://")
    return _SEPARATORS.split(rest if separator else destination)
