"""Credentials pasted into a storage URI (user-info) are never repeated: the one place
that strips them (sinks.locations), the bucket and container checks that refuse them,
and what the audit log records of a caller's export reference."""

from __future__ import annotations

import pytest

from sluice.server.audit import NOT_AN_EXPORT_ID, recorded_export
from sluice.sinks.azure.options import AzureLocation
from sluice.sinks.locations import LocationRefused, classify, without_credentials, without_secrets
from sluice.sinks.s3.options import S3Location

KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's example secret key: it has '/'
PLAIN = SECRET.replace("/", "")
#: Azurite's well-known account key: 88 characters, two '/' (as most real keys hold).
AZURE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
PIECES = (
    KEY,
    "wJalrXUtnFEMI",
    "K7MDENG",
    "CYEXAMPLEKEY",
    "Eby8vdM02x",
    "K1SZFPTOtr",
    "KBHBeksoGMGw",
)


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        (f"s3://{KEY}:{PLAIN}@my-bucket/out", "s3://my-bucket/out"),
        (f"s3a://{KEY}:{SECRET}@my-bucket/out", "s3a://my-bucket/out"),
        (f"s3://{KEY}@my-bucket", "s3://my-bucket"),
        (f"az://acct:{PLAIN}@container/out", "az://container/out"),
        (f"az://{PLAIN}@container/out", "az://container/out"),
        # Bare secrets holding '/' before '@': everything up to the last '@' goes.
        (f"az://{AZURE_KEY}@container/out", "az://container/out"),
        (
            f"az://{AZURE_KEY}@container/x/20261207T000000Z-000000000000/manifest.json",
            "az://container/x/20261207T000000Z-000000000000/manifest.json",
        ),
        (
            f"abfss://{AZURE_KEY}@acct.dfs.core.windows.net/out",
            "abfss://acct.dfs.core.windows.net/out",
        ),
        (f"s3://{SECRET}@my-bucket/out", "s3://my-bucket/out"),
        (f"s3://{SECRET}@my-bucket/out?sig=1", "s3://my-bucket/out?sig=1"),
        (
            f"abfss://container:{PLAIN}@acct.dfs.core.windows.net/out",
            "abfss://acct.dfs.core.windows.net/out",
        ),
        # A container before '@' is no credential, and a glob's '?' no query.
        (
            "abfss://exports@acct.dfs.core.windows.net/a",
            "abfss://exports@acct.dfs.core.windows.net/a",
        ),
        ("s3://bucket/data/file?.csv", "s3://bucket/data/file?.csv"),
        # An '@' in a cloud object path cannot be told from a secret's: cut (and refused).
        ("s3://bucket/users/joe@example.com/x", "s3://example.com/x"),
        ("postgresql://db.internal:5432/sales", "postgresql://db.internal:5432/sales"),
        # Not a cloud scheme: only the authority's user-info goes, a path's '@' stays.
        ("postgresql://db.internal:5432/sales@eu", "postgresql://db.internal:5432/sales@eu"),
        ("postgresql://user:pw@db.internal:5432/sales", "postgresql://db.internal:5432/sales"),
        ("/data/a:b@c/x.csv", "/data/a:b@c/x.csv"),
    ],
)
def test_without_credentials_drops_user_info_only(uri: str, shown: str) -> None:
    assert without_credentials(uri) == shown
    assert not any(piece in without_credentials(uri) for piece in PIECES)


def test_without_secrets_drops_the_query_of_a_url_too() -> None:
    assert without_secrets(f"az://{PLAIN}@c0n/x/manifest.json?sv=1&sig=SAS#f") == (
        "az://c0n/x/manifest.json"
    )
    assert without_secrets("/exports/a?b/manifest.json") == "/exports/a?b/manifest.json"


@pytest.mark.parametrize(
    ("parse", "uri"),
    [
        (S3Location.parse, f"s3://{KEY}:{PLAIN}@my-bucket/out"),
        (S3Location.parse, f"s3a://{KEY}:{SECRET}@my-bucket/out"),
        (S3Location.parse, f"s3://{KEY}@my-bucket/out"),
        (AzureLocation.parse, f"az://acct:{PLAIN}@container/out"),
        (AzureLocation.parse, f"az://acct:{SECRET}@container/out"),
        (AzureLocation.parse, f"abfss://container:{PLAIN}@acct.dfs.core.windows.net/out"),
        (AzureLocation.parse, f"az://{PLAIN}@container/out"),
        (AzureLocation.parse, f"az://{AZURE_KEY}@container/out"),
        (AzureLocation.parse, f"az://{AZURE_KEY}@container/x/{'0' * 8}/manifest.json"),
        (AzureLocation.parse, f"abfss://{AZURE_KEY}@acct.dfs.core.windows.net/out"),
        (AzureLocation.parse, "az://UPPER@acct/x"),  # no container name: maybe a key
        (S3Location.parse, f"s3://{SECRET}@my-bucket/out"),
        (S3Location.parse, f"s3a://{SECRET}@my-bucket/out"),
    ],
)
def test_a_bucket_or_container_with_user_info_is_refused_unrepeated(
    parse: object, uri: str
) -> None:
    with pytest.raises(ValueError, match="credentials do not belong in the URI") as refused:
        parse(uri)  # type: ignore[operator]
    assert not any(piece in str(refused.value) for piece in PIECES), refused.value
    with pytest.raises(LocationRefused, match="credentials do not belong in the URI") as refused:
        classify(uri)
    assert not any(piece in str(refused.value) for piece in PIECES), refused.value


@pytest.mark.parametrize(
    ("parse", "uri"),
    [
        (S3Location.parse, "s3://arn:aws:s3:us-east-1:123456789012:accesspoint/ap/key"),
        (S3Location.parse, "s3://my-bucket:/x"),
        (S3Location.parse, f"s3://{KEY}:{PLAIN}/x"),
        (AzureLocation.parse, "az://container:10000/x"),
        (AzureLocation.parse, f"az://acct:{PLAIN}/x"),
    ],
)
def test_a_colon_without_an_at_is_no_credential_and_not_repeated(parse: object, uri: str) -> None:
    with pytest.raises(ValueError, match="names hold no ':'") as refused:
        parse(uri)  # type: ignore[operator]
    message = str(refused.value)
    assert "credentials" not in message, message
    assert not any(piece in message for piece in (*PIECES, "accesspoint", "10000")), message


def test_wrong_schemes_are_named_without_user_info() -> None:
    for parse, uri in (
        (S3Location.parse, f"az://{KEY}:{PLAIN}@c/x"),
        (AzureLocation.parse, f"s3://{KEY}:{PLAIN}@b/x"),
    ):
        with pytest.raises(ValueError, match="is not an") as refused:
            parse(uri)  # type: ignore[operator]
        assert not any(piece in str(refused.value) for piece in PIECES), refused.value
    with pytest.raises(ValueError, match="'Bad_Bucket'"):
        S3Location.parse("s3://Bad_Bucket/x")  # no user-info: named, as before


def test_the_audit_records_export_ids_and_references_and_nothing_else() -> None:
    export_id = "20261207T091500Z-0123456789ab"
    assert recorded_export(export_id) == export_id
    assert recorded_export("") == ""
    manifest = f"my-bucket/out/x/{export_id}/manifest.json"
    assert recorded_export(f"s3://{KEY}:{SECRET}@{manifest}?sig=QUERYSECRET") == f"s3://{manifest}"
    assert (
        recorded_export(f"/exports/x/{export_id}/manifest.json")
        == f"/exports/x/{export_id}/manifest.json"
    )
    for text in (PLAIN, f"Bearer {PLAIN}", "nope", f"{export_id} ", "exports/x/manifest.json"):
        assert recorded_export(text) == NOT_AN_EXPORT_ID


def test_the_audit_records_a_uri_only_when_it_starts_with_a_scheme_and_parses() -> None:
    export_id = "20261207T091500Z-0123456789ab"
    manifest = f"x/{export_id}/manifest.json"
    for text, recorded in (
        (f"az://{AZURE_KEY}@container/{manifest}", f"az://container/{manifest}"),
        (
            f"abfss://exports@acct.dfs.core.windows.net/{manifest}",
            f"abfss://exports@acct.dfs.core.windows.net/{manifest}",
        ),
        (f"s3://{SECRET}@my-bucket/{manifest}", f"s3://my-bucket/{manifest}"),
        (f"S3://{KEY}:{PLAIN}@my-bucket/{manifest}", f"S3://my-bucket/{manifest}"),
        (f"file:///exports/{manifest}", f"file:///exports/{manifest}"),
        (f"/exports/{manifest}", f"/exports/{manifest}"),
    ):
        assert recorded_export(text) == recorded, text
    for text in (
        "Bearer sk_live_TOKENSECRET ://",
        # Stripped of the key, no container is left: nothing parses, nothing recorded.
        f"abfss://{AZURE_KEY}@acct.dfs.core.windows.net/out",
        "sk_live_TOKENSECRET://x",
        f"{KEY}:SECRETX@s3://bucket",
        f"{export_id}\n",
        "s3://Bad_Bucket/x",
        f"s3://my-bucket:{PLAIN}/x",
        "http://host/x/manifest.json",
        "memory://x/y/z/manifest.json",
        "sqlite:///a/b/c/manifest.json",
        f"file://host/exports/{manifest}",
        f"s3://my-bucket/{manifest} Bearer sk_live_TOKENSECRET",
        f"/exports/x y/{export_id}/manifest.json",
        f"/exports/{manifest}\n",
        "/x/manifest.json",
        "/sk_live_TOKENSECRET",
        "/sk_live_TOKENSECRET/manifest.json.bak",
    ):
        assert recorded_export(text) == NOT_AN_EXPORT_ID, text
