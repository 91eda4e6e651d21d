"""What `sluice export read` and the other commands naming one export do with a cloud
manifest URI before any storage or server is reached: a chained URL, a query or
fragment, credentials are refused in one line that repeats nothing of the URI; legacy
S3 bucket names and access point ARNs, which the client always read, pass for the
commands that read here (read, manifest), while those the daemon carries out (verify,
delete) check a cloud URI as CreateExport checks a destination; a storage library's
error is one line too."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sluice.client._reader import ExportReader, ExportReadError, Keys
from sluice.client.cli.main import cli
from sluice.cloud_uris import daemon_uri_refusal, readable_uri_refusal, shown_uri

SECRET = "SECRETXYZ"
MANIFEST = "x/20261207T000000Z-000000000000/manifest.json"
REFUSED = [
    f"simplecache::s3://AKIAKEY:{SECRET}@bucket/{MANIFEST}",
    f"simplecache::s3://{SECRET}KEY/{MANIFEST}",
    f"filecache::s3://{SECRET}/{MANIFEST}",
    f"blockcache::az://{SECRET}@container/{MANIFEST}",
    f"s3://bucket/y::az://{SECRET}/{MANIFEST}",
    f"simplecache::/tmp/{SECRET}/{MANIFEST}",
    f"s3://bucket/{MANIFEST}?X-Amz-Signature={SECRET}",
    f"s3://bucket/{MANIFEST}#{SECRET}",
    f"az://container/{MANIFEST}?sig={SECRET}",
    f"https://host/{MANIFEST}?sig={SECRET}",
    f"s3://AKIAKEY:{SECRET}@bucket/{MANIFEST}",
    f"s3://AKIAKEY:{SECRET}/{MANIFEST}",
    f"s3://{SECRET}+K7/{MANIFEST}",
    f"s3://arn:aws:s3:us-east-1:123456789012:{SECRET}/{MANIFEST}",
]
READABLE = [
    f"s3://Legacy_Bucket/{MANIFEST}",
    f"s3://bucket.with.dots/{MANIFEST}",
    f"s3://arn:aws:s3:us-east-1:123456789012:accesspoint:ap/{MANIFEST}",
    f"s3://arn:aws:s3:us-east-1:123456789012:accesspoint/ap/{MANIFEST}",
    f"s3a://UPPER.case_name/{MANIFEST}",
    f"az://$web/{MANIFEST}",
    f"abfs://container@acct.dfs.core.windows.net/{MANIFEST}",
    f"/tmp/{MANIFEST}",
    "exp_1",
]


@pytest.mark.parametrize("uri", REFUSED)
def test_the_reader_refuses_a_uri_that_may_hold_a_secret_unrepeated(uri: str) -> None:
    message = readable_uri_refusal(uri)
    assert message is not None and SECRET not in message and "\n" not in message
    with pytest.raises(ExportReadError) as refused:
        ExportReader(uri, Keys())
    assert str(refused.value) == message


@pytest.mark.parametrize("command", ["read", "manifest", "verify", "delete", "get"])
@pytest.mark.parametrize("uri", REFUSED)
def test_the_cli_refuses_a_uri_that_may_hold_a_secret_in_one_line(uri: str, command: str) -> None:
    result = CliRunner().invoke(cli, ["--server", "127.0.0.1:9", "export", command, uri])
    assert result.exit_code == 1, result.output
    refusal = daemon_uri_refusal if command in ("verify", "delete") else readable_uri_refusal
    assert result.stderr == f"sluice: error: {refusal(uri)}\n"
    assert SECRET not in result.output


@pytest.mark.parametrize("uri", READABLE)
def test_legacy_bucket_names_and_access_point_arns_are_read(uri: str) -> None:
    assert readable_uri_refusal(uri) is None


def test_a_legacy_bucket_is_shown_without_its_name() -> None:
    # A bare secret made of legacy-name characters cannot be told from a legacy bucket:
    # the client reads it, and never shows it.
    assert shown_uri(f"s3://{SECRET}KEY/{MANIFEST}") == f"s3://(bucket not repeated)/{MANIFEST}"
    assert shown_uri(f"s3://bucket/{MANIFEST}") == f"s3://bucket/{MANIFEST}"
    result = CliRunner().invoke(cli, ["export", "manifest", f"s3://{SECRET}KEY/{MANIFEST}"])
    assert result.stderr == (
        f"sluice: error: manifest s3://(bucket not repeated)/{MANIFEST} is not on local "
        "storage; download it and pass the file path\n"
    )


def test_a_storage_error_of_export_read_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # adlfs without an account or credentials refuses before any request.
    for name in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_NAME"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(cli, ["export", "read", f"az://$web/{MANIFEST}"])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"sluice: error: cannot read manifest az://$web/{MANIFEST}: ")
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
