"""Credentials pasted into a storage URI (user-info) are never repeated: the one place
that strips them (sluice.cloud_uris, re-exported by sinks.locations), the bucket and
container checks that refuse them (a bare secret in place of the name included), and
what the audit log records of a caller's export reference. Azure's $web, $logs and
$root are container names."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice import cloud_uris
from sluice.cloud_uris import CREDENTIALS_IN_URI, cloud_uri_refusal
from sluice.server.audit import NOT_AN_EXPORT_ID, recorded_export
from sluice.sinks import locations
from sluice.sinks.azure.options import AzureLocation
from sluice.sinks.factory import open_sink
from sluice.sinks.locations import (
    Location,
    LocationRefused,
    classify,
    holds_credentials,
    without_credentials,
    without_secrets,
)
from sluice.sinks.profiles import AzureProfile, S3Profile
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


MARK = "(credentials removed)"


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        (f"s3://{KEY}:{PLAIN}@my-bucket/out", f"s3://{MARK}@my-bucket/out"),
        (f"s3://{KEY}@my-bucket", f"s3://{MARK}@my-bucket"),
        ("s3://minioadmin@bucket/x", f"s3://{MARK}@bucket/x"),
        (f"az://acct:{PLAIN}@container/out", f"az://{MARK}@container/out"),
        (f"az://{PLAIN}@container/out", f"az://{MARK}@container/out"),
        (
            f"abfss://container:{PLAIN}@acct.dfs.core.windows.net/out",
            f"abfss://{MARK}@acct.dfs.core.windows.net/out",
        ),
        # Bare secrets holding '/' before '@': what follows them cannot be told, so
        # nothing that looks like a location is left.
        (f"s3a://{KEY}:{SECRET}@my-bucket/out", f"s3a://{MARK}"),
        (f"az://{AZURE_KEY}@container/out", f"az://{MARK}"),
        (
            f"az://{AZURE_KEY}@container/x/20261207T000000Z-000000000000/manifest.json",
            f"az://{MARK}",
        ),
        (f"abfss://{AZURE_KEY}@acct.dfs.core.windows.net/out", f"abfss://{MARK}"),
        (f"s3://{SECRET}@my-bucket/out", f"s3://{MARK}"),
        (f"s3://{SECRET}@my-bucket/out?sig=1", f"s3://{MARK}"),
        # Credentials in the authority, and another '@' after it: cut whole too.
        (f"s3://{KEY}@my-bucket/users/joe@example.com/x", f"s3://{MARK}"),
        # A container before '@' is no credential, and a glob's '?' no query.
        (
            "abfss://exports@acct.dfs.core.windows.net/a",
            "abfss://exports@acct.dfs.core.windows.net/a",
        ),
        ("s3://bucket/data/file?.csv", "s3://bucket/data/file?.csv"),
        ("postgresql://db.internal:5432/sales", "postgresql://db.internal:5432/sales"),
        # Not a cloud scheme: only the authority's user-info goes, a path's '@' stays.
        ("postgresql://db.internal:5432/sales@eu", "postgresql://db.internal:5432/sales@eu"),
        ("postgresql://user:pw@db.internal:5432/sales", "postgresql://db.internal:5432/sales"),
        ("/data/a:b@c/x.csv", "/data/a:b@c/x.csv"),
    ],
)
def test_without_credentials_drops_user_info_only(uri: str, shown: str) -> None:
    assert without_credentials(uri) == shown
    assert not any(piece in without_credentials(uri) for piece in (*PIECES, "minioadmin"))


#: Object paths holding '@' after a valid bucket or container: accepted as main did.
LEGIT_AT_PATHS = (
    ("s3://bucket/users/joe@example.com/x.parquet", "bucket", "users/joe@example.com/x.parquet"),
    ("s3a://bucket/snap@v3/part.parquet", "bucket", "snap@v3/part.parquet"),
    ("s3://bucket/data/*@2024*.parquet", "bucket", "data/*@2024*.parquet"),
    (
        "s3://prod/team@acme-archive/ds/ID/manifest.json",
        "prod",
        "team@acme-archive/ds/ID/manifest.json",
    ),
    (
        "s3://lake/users/email=joe@example.com/part-0.jsonl",
        "lake",
        "users/email=joe@example.com/part-0.jsonl",
    ),
    ("az://container/users/joe@example.com/x", "container", "users/joe@example.com/x"),
    (
        "abfss://container@account.dfs.core.windows.net/users/joe@x.com/f.parquet",
        "container",
        "users/joe@x.com/f.parquet",
    ),
    ("az://container@acct/a@b", "container", "a@b"),
)


@pytest.mark.parametrize(("uri", "bucket", "prefix"), LEGIT_AT_PATHS)
def test_an_at_in_the_object_path_after_a_valid_authority_is_a_path(
    uri: str, bucket: str, prefix: str
) -> None:
    location = classify(uri)
    assert location.target == uri
    assert not holds_credentials(uri)
    if location.kind == "s3":
        assert S3Location.parse(uri) == S3Location(bucket, prefix)
    else:
        parsed = AzureLocation.parse(uri)
        assert (parsed.container, parsed.prefix) == (bucket, prefix)
    assert without_credentials(uri) == uri
    assert without_secrets(uri) == uri


def test_an_azure_account_host_after_the_container_is_kept() -> None:
    parsed = AzureLocation.parse("abfss://container@account.dfs.core.windows.net/users/joe@x.com/f")
    assert parsed.account == "account"
    assert AzureLocation.parse("az://container@acct/a@b").account == "acct"


@pytest.mark.parametrize(
    ("uri", "container", "prefix", "account"),
    [
        ("az://$web/site", "$web", "site", ""),
        ("az://$logs", "$logs", "", ""),
        ("abfs://$web@acct.dfs.core.windows.net/docs/x", "$web", "docs/x", "acct"),
        ("abfss://$root@acct.dfs.core.windows.net/x", "$root", "x", "acct"),
        ("az://$web@acct/a@b", "$web", "a@b", "acct"),
    ],
)
def test_azure_special_containers_are_containers(
    uri: str, container: str, prefix: str, account: str
) -> None:
    """$web (the static website's container, where sites are exported to), $logs and
    $root are Azure's own container names: taken as they are written."""
    assert not holds_credentials(uri)
    assert classify(uri) == Location("azure", uri)
    assert AzureLocation.parse(uri) == AzureLocation(container, prefix, account)
    assert without_credentials(uri) == uri
    assert cloud_uri_refusal(uri) is None


@pytest.mark.parametrize("uri", ["az://$WEB/x", "az://$web2/x", "az://$/x", "az://web$/x"])
def test_only_the_three_special_containers_hold_a_dollar(uri: str) -> None:
    with pytest.raises(ValueError, match=r"invalid Azure container name \(not repeated\)") as e:
        AzureLocation.parse(uri)
    assert "$" not in str(e.value).partition(":")[0], e.value
    for scheme in ("s3://", "s3a://"):
        with pytest.raises(ValueError, match="invalid S3 bucket name"):
            S3Location.parse(scheme + "$web/x")


def test_without_secrets_drops_the_query_of_a_url_too() -> None:
    assert without_secrets(f"az://{PLAIN}@c0n/x/manifest.json?sv=1&sig=SAS#f") == (
        f"az://{MARK}@c0n/x/manifest.json"
    )
    assert without_secrets("az://c0n/joe@x/manifest.json?sv=1&sig=SAS#f") == (
        "az://c0n/joe@x/manifest.json"
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
        (S3Location.parse, "s3://minioadmin@bucket/x"),
        (S3Location.parse, f"s3://{KEY}:{PLAIN}@bucket"),
        (S3Location.parse, f"s3://{KEY}@my-bucket/users/joe@example.com/x"),
        (AzureLocation.parse, f"az://{KEY}@c"),
        (AzureLocation.parse, f"az://container@{PLAIN}/x"),
    ],
)
def test_a_bucket_or_container_with_user_info_is_refused_unrepeated(
    parse: object, uri: str
) -> None:
    with pytest.raises(ValueError, match="credentials do not belong in the URI") as refused:
        parse(uri)  # type: ignore[operator]
    assert not any(piece in str(refused.value) for piece in (*PIECES, "minioadmin"))
    with pytest.raises(LocationRefused, match="credentials do not belong in the URI") as refused:
        classify(uri)
    assert not any(piece in str(refused.value) for piece in (*PIECES, "minioadmin"))


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


def test_an_at_after_a_query_in_the_bucket_segment_is_not_repeated() -> None:
    with pytest.raises(ValueError, match="invalid S3 bucket") as refused:
        S3Location.parse(f"s3://my-bucket?sig={PLAIN}@x/out")
    assert PLAIN not in str(refused.value)


def test_wrong_schemes_are_named_without_user_info() -> None:
    for parse, uri in (
        (S3Location.parse, f"az://{KEY}:{PLAIN}@c/x"),
        (AzureLocation.parse, f"s3://{KEY}:{PLAIN}@b/x"),
    ):
        with pytest.raises(ValueError, match="is not an") as refused:
            parse(uri)  # type: ignore[operator]
        assert not any(piece in str(refused.value) for piece in PIECES), refused.value
    with pytest.raises(ValueError, match="an uppercase letter and '_'") as refused:
        S3Location.parse("s3://Bad_Bucket/x")  # no user-info, but perhaps a secret
    assert "Bad_Bucket" not in str(refused.value)


def test_the_audit_records_export_ids_and_references_and_nothing_else() -> None:
    export_id = "20261207T091500Z-0123456789ab"
    assert recorded_export(export_id) == export_id
    assert recorded_export("") == ""
    manifest = f"my-bucket/out/x/{export_id}/manifest.json"
    assert (
        recorded_export(f"s3://{KEY}:{PLAIN}@{manifest}?sig=QUERYSECRET")
        == f"s3://{MARK}@{manifest}"
    )
    assert recorded_export(f"s3://{KEY}:{SECRET}@{manifest}?sig=QUERYSECRET") == NOT_AN_EXPORT_ID
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
        (
            f"abfss://exports@acct.dfs.core.windows.net/{manifest}",
            f"abfss://exports@acct.dfs.core.windows.net/{manifest}",
        ),
        (f"S3://{KEY}:{PLAIN}@my-bucket/{manifest}", f"S3://{MARK}@my-bucket/{manifest}"),
        (f"az://acct:{PLAIN}@container/{manifest}", f"az://{MARK}@container/{manifest}"),
        # An '@' after a valid bucket is a path: recorded as it is.
        (
            "s3://prod/team@acme-archive/ds/20261207T091500Z-0123456789ab/manifest.json",
            "s3://prod/team@acme-archive/ds/20261207T091500Z-0123456789ab/manifest.json",
        ),
        (f"file:///exports/{manifest}", f"file:///exports/{manifest}"),
        (f"/exports/{manifest}", f"/exports/{manifest}"),
    ):
        assert recorded_export(text) == recorded, text
    for text in (
        "Bearer sk_live_TOKENSECRET ://",
        # Stripped of the key, no container is left: nothing parses, nothing recorded.
        f"abfss://{AZURE_KEY}@acct.dfs.core.windows.net/out",
        # A bare slashed secret: never a remainder that names another bucket.
        f"az://{AZURE_KEY}@container/{manifest}",
        f"s3://{SECRET}@my-bucket/{manifest}",
        f"s3://{KEY}@my-bucket/joe@x/{manifest}",
        # The marker form only when what follows it parses.
        f"s3://{KEY}@Bad_Bucket/{manifest}",
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


def test_the_audit_records_a_relative_manifest_as_the_path_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    monkeypatch.chdir(folder)
    export_id = "20261207T091500Z-0123456789ab"
    manifest = f"x/{export_id}/manifest.json"
    recorded = recorded_export(f"../{manifest}")
    assert recorded == f"{tmp_path}/{manifest}"[:128], recorded
    assert recorded_export(f"./e/{manifest}") == f"{folder}/e/{manifest}"[:128]
    # A cloud URI missing its scheme, perhaps with a key, is no local path to record.
    for text in (f"{KEY}:{PLAIN}@bucket/{manifest}", f"a@b/{manifest}"):
        assert recorded_export(text) == NOT_AN_EXPORT_ID, text


@pytest.mark.parametrize(
    "uri",
    [
        f"az://container?sig={PLAIN}@x/out",
        f"az://mycontainer#{PLAIN}@acct/out",
        f"az://K{PLAIN}?Y@container/x.parquet",
        f"abfss://c0n?sv=1&sig={PLAIN}@acct.dfs.core.windows.net/x",
    ],
)
def test_an_at_anywhere_in_the_container_segment_is_refused_unrepeated(uri: str) -> None:
    """An '@' behind a '?' or '#' in the first '/'-segment: the parser takes that whole
    segment for the container, so it is judged whole, and never quoted."""
    assert holds_credentials(uri)
    with pytest.raises(ValueError, match="credentials do not belong in the URI") as refused:
        AzureLocation.parse(uri)
    assert PLAIN not in str(refused.value), refused.value
    with pytest.raises(LocationRefused, match="credentials do not belong") as refused_too:
        classify(uri)
    assert PLAIN not in str(refused_too.value), refused_too.value
    assert without_credentials(uri) == f"{uri.partition('://')[0]}://{MARK}"


@pytest.mark.parametrize(
    ("parse", "uri", "rule"),
    [
        (AzureLocation.parse, f"az://container?sig={PLAIN}/x.parquet", "invalid Azure container"),
        (AzureLocation.parse, f"az://container#{PLAIN}/x", "invalid Azure container"),
        (AzureLocation.parse, f"az://c0n%2F{PLAIN}/x", "invalid Azure container"),
        (AzureLocation.parse, f"az://c0n {PLAIN}/x", "invalid Azure container"),
        (AzureLocation.parse, f"az://c0n\u00e9{PLAIN}/x", "invalid Azure container"),
        (S3Location.parse, f"s3://bucket?X-Amz-Signature={PLAIN}/x", "invalid S3 bucket"),
        (S3Location.parse, f"s3://bucket#{PLAIN}/x", "invalid S3 bucket"),
        (S3Location.parse, f"s3a://bucket%3F{PLAIN}/x", "invalid S3 bucket"),
        (S3Location.parse, f"s3://bucket\t{PLAIN}/x", "invalid S3 bucket"),
    ],
)
def test_a_name_holding_a_character_outside_the_name_alphabet_is_not_quoted(
    parse: object, uri: str, rule: str
) -> None:
    with pytest.raises(ValueError, match=rule) as refused:
        parse(uri)  # type: ignore[operator]
    message = str(refused.value)
    assert PLAIN not in message and "(not repeated)" in message, message
    assert "credentials" not in message, message


@pytest.mark.parametrize(
    ("parse", "uri", "quoted"),
    [
        (S3Location.parse, "s3://ab/x", "'ab'"),
        (S3Location.parse, "s3://my..bucket/x", "'my..bucket'"),
        (S3Location.parse, "s3://-bucket/x", "'-bucket'"),
        (AzureLocation.parse, "az://my--container/x", "'my--container'"),
        (AzureLocation.parse, "az://ab/x", "'ab'"),
    ],
)
def test_a_name_of_the_names_own_characters_that_breaks_a_rule_of_form_is_quoted(
    parse: object, uri: str, quoted: str
) -> None:
    """Too short, '..', '--', a leading '-': a typo of a name, no more a secret than a
    valid name would be."""
    with pytest.raises(ValueError, match=quoted):
        parse(uri)  # type: ignore[operator]


#: Bare secrets pasted where the bucket or container goes, without '@': no credentials
#: can be told, but no valid name either.
BARE_SECRETS = ("SECRETKEY", KEY, PLAIN, f"{KEY}:wJalr", "MyContainer", "Bad_Bucket")


@pytest.mark.parametrize("secret", BARE_SECRETS)
@pytest.mark.parametrize("scheme", ["s3", "s3a", "az", "abfs", "abfss"])
def test_a_bare_secret_in_place_of_the_name_is_refused_unrepeated(scheme: str, secret: str) -> None:
    uri = f"{scheme}://{secret}/x/manifest.json"
    parse = S3Location.parse if scheme.startswith("s3") else AzureLocation.parse
    with pytest.raises(ValueError, match=r"invalid (S3 bucket|Azure container) name") as e:
        parse(uri)
    message = str(e.value)
    assert "(not repeated)" in message, message
    assert secret not in message and "wJalr" not in message, message
    assert cloud_uri_refusal(uri) == message


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("s3://SECRETKEY/x", "an uppercase letter"),
        ("s3://my_bucket/x", "'_'"),
        (f"s3://{'a' * 64}/x", "64 characters long"),
        ("az://my.container/x", "'.'"),
        (f"az://{'a' * 70}/x", "70 characters long"),
        (f"s3://{KEY}:wJalr/x", "hold no ':'"),
        ("az://c0n?sig=SAS/x", "a character"),
    ],
)
def test_the_message_says_why_a_name_is_invalid(uri: str, why: str) -> None:
    message = cloud_uri_refusal(uri)
    assert message is not None and why in message, message


def test_cloud_uri_refusal_says_nothing_of_valid_or_other_uris() -> None:
    for uri in (
        "s3://bucket/x/manifest.json",
        "abfss://container@acct.dfs.core.windows.net/x",
        "az://$web/x",
        "/exports/SECRETKEY/x",
        "file:///exports/x",
        "postgresql://db:5432/x",
        "SECRETKEY",
    ):
        assert cloud_uri_refusal(uri) is None, uri
    assert cloud_uri_refusal(f"s3://{KEY}:{PLAIN}@bucket/x") == CREDENTIALS_IN_URI


def test_the_client_and_storage_share_one_set_of_rules() -> None:
    """sinks.locations re-exports the rules the client imports from sluice.cloud_uris
    (the client installs without storage's dependencies)."""
    for name in ("holds_credentials", "without_credentials", "without_secrets", "name_refusal"):
        assert getattr(locations, name) is getattr(cloud_uris, name), name


@pytest.mark.parametrize(
    "uri",
    [
        "s3://AKIAKEY:pa?ss@bucket/x",
        "s3://minio:p@ss?w0rd@bucket/x.parquet",
        "s3://key:se@cret?x/y@bucket/ds/id/manifest.json",
        "s3://mypassword?x@bucket/ds/id/manifest.json",
        "s3a://mypassword#x@bucket/x",
        "az://acct:pa?ss@container/x",
    ],
)
def test_credentials_holding_a_query_sign_are_cut_to_the_bare_marker(uri: str) -> None:
    """The parsers read the bucket to the first '/', so the credentials check does too:
    a '?' or '#' inside the user-info does not end it, and what follows it cannot be
    told from the secret."""
    scheme = uri.partition("://")[0]
    assert holds_credentials(uri)
    assert without_credentials(uri) == f"{scheme}://{MARK}"
    assert without_secrets(uri) == f"{scheme}://{MARK}"
    for secret in ("pa", "ss", "w0rd", "cret", "mypassword", "AKIAKEY"):
        assert secret not in without_secrets(uri)


def test_the_audit_records_credentials_holding_a_query_sign_as_no_export() -> None:
    export_id = "20261207T091500Z-0123456789ab"
    for text in (
        f"s3://key:se@cret?x/y@bucket/ds/{export_id}/manifest.json",
        f"s3://mypassword?x@bucket/ds/{export_id}/manifest.json",
        f"s3://minio:p@ss?w0rd@bucket/ds/{export_id}/manifest.json",
        f"az://container?sig=SAS@acct/ds/{export_id}/manifest.json",
    ):
        assert recorded_export(text) == NOT_AN_EXPORT_ID, text


def test_a_mistyped_azure_container_before_at_says_it_may_be_either() -> None:
    for refuse in (AzureLocation.parse, classify):
        with pytest.raises(ValueError, match="an invalid container name, or credentials") as e:
            refuse("abfss://MyContainer@acct/x")
        assert "MyContainer" not in str(e.value)


@pytest.mark.parametrize(
    ("uri", "account"),
    [
        ("abfs://container@[::1]:10000/x", ""),
        ("abfs://container@[2001:db8::5]/x", ""),
        ("abfss://container@acct.dfs.core.windows.net./x", "acct"),
        ("abfs://container@127.0.0.1:10000", "127"),
    ],
)
def test_an_ipv6_or_fully_qualified_account_host_is_a_host(uri: str, account: str) -> None:
    assert not holds_credentials(uri)
    assert classify(uri).kind == "azure"
    parsed = AzureLocation.parse(uri)
    assert (parsed.container, parsed.account) == ("container", account)
    assert without_credentials(uri) == uri


@pytest.mark.parametrize(
    ("uri", "profile"),
    [
        (f"s3://{KEY}/x", AzureProfile(account_name="acct")),
        (f"az://{PLAIN}/x", S3Profile()),
    ],
)
def test_a_profile_of_the_other_kind_does_not_repeat_the_uri(
    uri: str, profile: S3Profile | AzureProfile
) -> None:
    # open_sink is reached with a URI that planning has not parsed (a verify or delete
    # of a recorded destination): the bucket may be a bare secret.
    with pytest.raises(ValueError, match="storage profile cannot reach a") as refused:
        open_sink(uri, profile=profile)
    assert KEY not in str(refused.value) and PLAIN not in str(refused.value), refused.value
