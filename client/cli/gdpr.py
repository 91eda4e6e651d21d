"""`sluice gdpr package`: a GDPR subject package (Art. 15 access, Art. 20 portability) —
one export holding one person's rows of every named source that has a subject_column
(or of --sources), as JSON and CSV files, with a README.html for the person."""

from __future__ import annotations

import click

from sluice.client.cli.export import submit
from sluice.client.cli.params import SECRET_NAME
from sluice.client.cli.paths import absolute_uri
from sluice.v1 import export_pb2


@click.group("gdpr")
def gdpr_group() -> None:
    """GDPR subject packages: everything the server's named sources hold about a person."""


@gdpr_group.command("package")
@click.option(
    "--subject", "subject_id", required=True, help="The person's id (subject_column value)."
)
@click.option("--to", required=True, help="Destination folder or s3:// / az:// URL.")
@click.option("--dataset", default="gdpr", show_default=True, help="Dataset folder under --to.")
@click.option(
    "--sources",
    default="",
    help="Comma-separated named sources (default: every one with a subject_column).",
)
@click.option(
    "--template",
    default="gdpr",
    show_default=True,
    help="Template whose compression, encryption and redaction the package takes.",
)
@click.option(
    "--zip-password-secret",
    type=SECRET_NAME,
    default=None,
    help="Server secret with the AES zip password (the gdpr template uses secret 'gdpr').",
)
@click.option("--encrypt-to", multiple=True, help="age recipient (age1...) instead of a zip.")
@click.option("--compression", default="", help="zip, zstd, gzip or none (default: template's).")
@click.option("--storage-profile", default="", help="Server storage profile for --to.")
@click.option("--request-id", default="", help="Idempotency key: a retry returns the same export.")
@click.option("--wait", is_flag=True, help="Wait until the package is committed.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def package(
    subject_id: str,
    to: str,
    dataset: str,
    sources: str,
    template: str,
    zip_password_secret: str | None,
    encrypt_to: tuple[str, ...],
    compression: str,
    storage_profile: str,
    request_id: str,
    wait: bool,
    as_json: bool,
) -> None:
    """Queue a subject package for --subject; prints its id (or its JSON)."""
    spec = export_pb2.ExportSpec(
        destination=export_pb2.Destination(
            uri=absolute_uri(to), dataset=dataset, profile=storage_profile
        ),
        template=template,
        output=export_pb2.Output(compression=compression),
    )
    # Only what was given: an Encryption message naming nothing is refused.
    if encrypt_to:
        spec.encryption.age_recipients.extend(encrypt_to)
    if zip_password_secret is not None:
        spec.encryption.zip_password_ref = zip_password_secret
    # Present even when empty: the server then says the subject id is missing.
    spec.subject.SetInParent()
    spec.subject.subject_id = subject_id
    spec.subject.sources.extend(name.strip() for name in sources.split(",") if name.strip())
    submit(spec, request_id, wait=wait, as_json=as_json)
