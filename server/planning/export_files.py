"""The files besides its chunks that an export writes in its own folder before its
manifest, by name, from its spec alone (no source I/O, no secrets): what `export delete`
of a cancelled or failed export removes with its journalled chunks. The manifest is never
among them: its presence is what makes an export committed."""

from __future__ import annotations

import contextlib

from sluice.format.layout import (
    INDEX_NAME,
    MANIFEST_NAME,
    README_HTML_NAME,
    REPORT_HTML_NAME,
    REPORT_PDF_NAME,
    SIGNATURE_NAME,
    TOMBSTONES_STEM,
    XML_SCHEMA_NAME,
)
from sluice.server.errors import SluiceError
from sluice.server.pipeline.compressors import COMPRESSORS
from sluice.server.pipeline.encoders import ENCODERS
from sluice.server.planning.encryption import AGE_EXTENSION
from sluice.server.planning.spec import ExportSpec
from sluice.server.planning.template_plan import with_template
from sluice.server.settings import Settings


def fixed_file_names(spec: ExportSpec, settings: Settings) -> tuple[str, ...]:
    """The names (relative to the export's folder) of the files an export of `spec` may
    have written besides its chunks: the key index and tombstones of a keyed export (the
    tombstones hold deleted rows' keys), the XML Schema, the report, a subject package's
    README, and the manifest's signature (written just before the manifest whenever the
    daemon signs; harmless to name when it does not). Any of them may be missing."""
    with contextlib.suppress(SluiceError):
        # A template changed or gone since: the export ran with what its spec says.
        spec = with_template(spec, settings)
    output = spec.output
    encoder = ENCODERS.get((output.format or "jsonl").strip().lower())
    compressor = COMPRESSORS.get((output.compression or "zstd").lower())
    encryption = spec.encryption
    aged = bool(encryption.age_recipients or encryption.age_passphrase_ref)
    cipher_extension = AGE_EXTENSION if aged else ""
    names = [SIGNATURE_NAME]
    if spec.incremental.key and encoder is not None and compressor is not None:
        outer = "" if encoder.internal_compression else compressor.extension
        names += [INDEX_NAME, f"{TOMBSTONES_STEM}.{encoder.extension}{outer}{cipher_extension}"]
    if encoder is not None and encoder.name == "xml":
        names.append(XML_SCHEMA_NAME)
    if spec.report:
        names += [REPORT_HTML_NAME, REPORT_PDF_NAME]
    if spec.subject is not None:
        # Sealed as its files are: in an AES zip, to the age recipients, or as it is.
        zipped = bool(encryption.zip_password_ref) and compressor is not None
        readme_extension = compressor.extension if zipped and compressor else cipher_extension
        names.append(README_HTML_NAME + readme_extension)
    assert MANIFEST_NAME not in names
    return tuple(names)
