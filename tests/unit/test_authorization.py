"""Authorization rules on their own: scopes, roots (local paths normalised as the allowed
roots are; cloud URIs by prefix, `..` refused), profiles and secrets; the principals'
settings; and the authenticator (digests, token references, certificate identities)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

from sluice.server.errors import FailedPrecondition, PermissionDenied, Unauthenticated
from sluice.server.pipeline.source import resolve_source
from sluice.server.planning.authorization import (
    check_destination,
    check_run_access,
    check_secret,
    check_source,
    check_spec_access,
    require_scope,
)
from sluice.server.planning.spec import (
    DestinationSpec,
    ExportSpec,
    RedactionRuleSpec,
    RedactionSpec,
    SourceSpec,
)
from sluice.server.principals import (
    ANONYMOUS,
    AuthSettings,
    CertificateNames,
    Principal,
    PrincipalConfig,
    Scope,
    build_authenticator,
    token_digest,
)
from sluice.server.settings import SettingsError, load_settings


def _principal(**lists: object) -> Principal:
    return Principal(name="p", scopes=frozenset({Scope.READ}), **lists)  # type: ignore[arg-type]


def test_scopes() -> None:
    reader = _principal()
    require_scope(reader, Scope.READ)
    with pytest.raises(PermissionDenied, match="needs scope exports:create"):
        require_scope(reader, Scope.CREATE)
    admin = Principal(name="root", scopes=frozenset({Scope.ADMIN}))
    for scope in Scope:
        require_scope(admin, scope)
        require_scope(ANONYMOUS, scope)


def test_local_roots_resolve_symlinks_and_dots(tmp_path: Path) -> None:
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    mine.mkdir()
    theirs.mkdir()
    (mine / "link").symlink_to(theirs)
    principal = _principal(source_roots=(str(mine),), destination_roots=(str(mine),))
    check_source(principal, str(mine / "a.csv"), "spec.source.uri")
    check_source(principal, f"file://{mine}/sub/*.csv", "spec.source.uri")
    check_source(principal, f"sqlite://{mine}/db.sqlite", "spec.source.uri")
    for uri in (
        str(theirs / "a.csv"),
        str(mine / ".." / "theirs" / "a.csv"),
        str(mine / "link" / "a.csv"),
        f"duckdb://{theirs}/x.duckdb",
        "s3://bucket/mine/a.csv",
        str(tmp_path / "mine-too" / "a.csv"),  # a sibling sharing the prefix
    ):
        with pytest.raises(PermissionDenied) as denied:
            check_source(principal, uri, "spec.source.uri")
        assert denied.value.message.startswith("spec.source.uri: outside the sources")
        assert str(theirs) not in denied.value.message
    check_destination(principal, str(mine / "out"), "spec.destination.uri")


def _mine_with_a_link_out(tmp_path: Path) -> Path:
    """A folder `mine` holding a.csv and b.csv, a symlink to a file in `theirs`."""
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    mine.mkdir()
    theirs.mkdir()
    (mine / "a.csv").write_text("x\n1\n")
    (theirs / "b.csv").write_text("x\n2\n")
    (mine / "b.csv").symlink_to(theirs / "b.csv")
    return mine


def test_each_expanded_file_is_checked_when_the_export_runs(tmp_path: Path) -> None:
    """A glob is expanded again at each run: a symlink made after CreateExport, or an
    owner removed from the config since, stops the run."""
    mine = _mine_with_a_link_out(tmp_path)
    auth = AuthSettings(
        principals=(
            PrincipalConfig(name="alice", token_sha256="a" * 64, source_roots=(str(mine),)),
            PrincipalConfig(name="root", token_sha256="b" * 64, scopes=(Scope.ADMIN,)),
        )
    )
    check_run_access(auth, "alice", [str(mine / "a.csv"), f"file://{mine}/a.csv"])
    check_run_access(auth, "alice", [f"FILE://{mine}/a.csv"])  # the scheme in capitals
    with pytest.raises(PermissionDenied):
        check_run_access(auth, "alice", [f"FILE://{mine}/b.csv"])
    check_run_access(auth, "root", [str(mine / "b.csv")])  # no source_roots: any
    check_run_access(auth, "", [str(mine / "b.csv")])  # the server's own (schedules)
    check_run_access(AuthSettings(), "alice", [str(mine / "b.csv")])  # no principals
    with pytest.raises(PermissionDenied) as denied:
        check_run_access(auth, "alice", [str(mine / "a.csv"), str(mine / "b.csv")])
    assert denied.value.message.startswith(f"spec.source.uri: '{mine / 'b.csv'}', which")
    with pytest.raises(PermissionDenied, match="'bob', which created this export, is no longer"):
        check_run_access(auth, "bob", [str(mine / "a.csv")])


def test_a_named_sources_file_outside_the_owners_roots_is_named_by_place(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A named source's paths are the server's: the denial names the source and the
    file's place; the log has the path."""
    mine = _mine_with_a_link_out(tmp_path)
    auth = AuthSettings(
        principals=(
            PrincipalConfig(name="alice", token_sha256="a" * 64, source_roots=(str(mine),)),
        )
    )
    source = resolve_source(str(mine / "*.csv"), "", [tmp_path], source_name="events")
    with caplog.at_level(logging.INFO), pytest.raises(PermissionDenied) as denied:
        check_run_access(auth, "alice", source.files, source)

    assert denied.value.message.startswith(
        "spec.source.uri: named source 'events', file 2 of 2, which the pattern matched"
    )
    assert str(tmp_path) not in denied.value.message
    assert f"named source 'events', file 2 of 2 is {mine / 'b.csv'}" in caplog.text


def test_cloud_roots_match_by_prefix_and_refuse_dot_segments() -> None:
    principal = _principal(destination_roots=("s3://exports/billing/", "az://acct/box"))
    for uri in (
        "s3://exports/billing",
        "s3://exports/billing/2025/",
        "S3://exports//billing/x",
        "az://acct/box/y",
    ):
        check_destination(principal, uri, "destination")
    for uri in (
        "s3://exports/billing-other/",
        "s3://exports/billing/../other",
        "s3://exports/./billing/x",
        "s3://exports/",
        "az://acct/boxes",
        "/exports/billing",
    ):
        with pytest.raises(PermissionDenied, match=r"^destination: outside the destinations"):
            check_destination(principal, uri, "destination")


def test_unrestricted_lists_and_empty_lists() -> None:
    open_principal = _principal()
    check_source(open_principal, "s3://any/thing", "f")
    check_secret(open_principal, "any", "f")
    closed = _principal(source_roots=(), secrets=())
    with pytest.raises(PermissionDenied):
        check_source(closed, "/data/x.csv", "f")
    with pytest.raises(PermissionDenied) as denied:
        check_secret(closed, "hunter2", "spec.encryption.zip_password_ref")
    assert "hunter2" not in denied.value.message


def test_authenticator_by_digest_reference_and_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_UNIT_TOKEN", "from-env\n")
    auth = AuthSettings(
        principals=(
            PrincipalConfig(name="a", token_sha256=token_digest("tok-a"), scopes=(Scope.READ,)),
            PrincipalConfig(name="b", token_ref="env:AUTH_UNIT_TOKEN"),
            PrincipalConfig(name="c", cert_identity="spiffe://corp/ns/x/sa/y"),
        )
    )
    by_uri = CertificateNames(uri_sans=("spiffe://corp/ns/x/sa/y",), common_names=("cn",))
    assert build_authenticator(auth).by_certificate(by_uri) is None
    authenticator = build_authenticator(auth, verified_certificates=True)
    assert authenticator.enabled
    assert authenticator.by_token("tok-a").name == "a"  # type: ignore[union-attr]
    assert authenticator.by_token("from-env").name == "b"  # type: ignore[union-attr]
    assert authenticator.by_token("tok-b") is None
    assert authenticator.by_certificate(by_uri).name == "c"  # type: ignore[union-attr]
    assert authenticator.by_certificate(CertificateNames(uri_sans=("spiffe://other",))) is None
    assert token_digest(b"x") == hashlib.sha256(b"x").hexdigest()
    monkeypatch.delenv("AUTH_UNIT_TOKEN")
    with pytest.raises(FailedPrecondition):
        build_authenticator(auth)


def test_a_certificate_is_its_uri_sans_else_a_cn_that_is_no_uri() -> None:
    both = CertificateNames(uri_sans=("spiffe://a/b",), common_names=("spiffe://c/d", "cn"))
    assert both.identities() == ("spiffe://a/b",)
    assert CertificateNames(common_names=("spiffe://c/d", "cn")).identities() == ("cn",)
    assert not CertificateNames() and CertificateNames(common_names=("cn",))
    auth = AuthSettings(
        principals=(
            PrincipalConfig(name="ops", cert_identity="spiffe://corp/ns/ops/sa/admin"),
            PrincipalConfig(name="reports", cert_identity="reports"),
        )
    )
    authenticator = build_authenticator(auth, verified_certificates=True)
    for names in (
        CertificateNames(("spiffe://corp/ns/dev/sa/intern",), ("spiffe://corp/ns/ops/sa/admin",)),
        CertificateNames(("spiffe://corp/ns/dev/sa/intern",), ("reports",)),
        CertificateNames((), ("spiffe://corp/ns/ops/sa/admin",)),
    ):
        assert authenticator.by_certificate(names) is None, names
    assert authenticator.by_certificate(CertificateNames((), ("reports",))).name == "reports"  # type: ignore[union-attr]


def test_a_certificate_naming_two_principals_is_refused_without_naming_them() -> None:
    ops, billing = "spiffe://corp/ns/ops/sa/admin", "spiffe://corp/ns/billing/sa/exporter"
    auth = AuthSettings(
        principals=(
            PrincipalConfig(name="ops", cert_identity=ops),
            PrincipalConfig(name="billing", cert_identity=billing),
            PrincipalConfig(name="reports", cert_identity="reports"),
            PrincipalConfig(name="audit", cert_identity="audit"),
        )
    )
    authenticator = build_authenticator(auth, verified_certificates=True)
    for names in (
        CertificateNames((billing, ops), ()),
        CertificateNames((ops, billing), ("reports",)),
        CertificateNames(("spiffe://corp/other", billing, ops), ()),
        CertificateNames((), ("reports", "audit")),  # two CNs, each a principal's
    ):
        with pytest.raises(Unauthenticated, match="more than one principal") as refused:
            authenticator.by_certificate(names)
        message = refused.value.message
        for told in ("ops", "billing", "reports", "audit", "spiffe", "corp"):
            assert told not in message, message
    # One configured identity beside others that name no principal: that one; the
    # same identity twice is one principal.
    for names in (
        CertificateNames(("spiffe://corp/other", billing), ()),
        CertificateNames((billing, billing), ()),
    ):
        assert authenticator.by_certificate(names).name == "billing"  # type: ignore[union-attr]


def test_a_cn_with_any_uri_scheme_or_beside_an_empty_uri_san_is_no_identity() -> None:
    names = ("urn:corp:ops:admin", "spiffe:corp/ns/ops/sa/admin", "HTTPS://corp/admin")
    auth = AuthSettings(
        principals=(
            *(PrincipalConfig(name=f"p{i}", cert_identity=name) for i, name in enumerate(names)),
            PrincipalConfig(name="reports", cert_identity="reports"),
        )
    )
    authenticator = build_authenticator(auth, verified_certificates=True)
    for name in names:
        assert authenticator.by_certificate(CertificateNames((), (name,))) is None, name
        assert authenticator.by_certificate(CertificateNames((name,), ())) is not None, name
    # An empty URI SAN is still a URI SAN: the CN beside it counts for nothing.
    assert CertificateNames(("",), ("reports",))
    assert authenticator.by_certificate(CertificateNames(("",), ("reports",))) is None


def test_a_cn_holding_a_colon_that_is_no_uri_identity_still_counts() -> None:
    names = ("host:8080", "system:node:worker-1", "db-01.corp.example:5432", "https:corp")
    auth = AuthSettings(
        principals=tuple(
            PrincipalConfig(name=f"p{i}", cert_identity=name) for i, name in enumerate(names)
        )
    )
    authenticator = build_authenticator(auth, verified_certificates=True)
    for i, name in enumerate(names):
        assert CertificateNames((), (name,)).identities() == (name,)
        assert authenticator.by_certificate(CertificateNames((), (name,))).name == f"p{i}"  # type: ignore[union-attr]
    for uri in ("URN:corp:x", "Spiffe:corp/x", "a://b", "spiffe://corp/x"):
        assert CertificateNames((), (uri,)).identities() == (), uri


def test_certificate_names_read_from_the_auth_context_fail_closed() -> None:
    both = {
        "x509_subject_alternative_name": [b"spiffe://corp/a", b"host.corp"],
        "peer_uri": [b"spiffe://corp/a"],
        "x509_common_name": [b"reports"],
    }
    assert CertificateNames.from_auth_context(both) == CertificateNames(
        ("spiffe://corp/a",), ("reports",)
    )
    plain = {"x509_subject_alternative_name": [b"host.corp"], "x509_common_name": [b"reports"]}
    assert CertificateNames.from_auth_context(plain) == CertificateNames((), ("reports",))
    assert not CertificateNames.from_auth_context({})
    # A SAN holding '://' without peer_uri (a grpcio without it, or a DNS SAN written as
    # a URI): refused, never known by its CN.
    for sans in ([b"spiffe://corp/a"], [b"host.corp", b"spiffe://corp/a"]):
        without_peer_uri = {"x509_subject_alternative_name": sans, "x509_common_name": [b"reports"]}
        with pytest.raises(Unauthenticated):
            CertificateNames.from_auth_context(without_peer_uri)


def test_principal_settings_are_validated_without_echoing_tokens(tmp_path: Path) -> None:
    config = tmp_path / "s.toml"
    config.write_text('[[auth.principals]]\nname = "x"\ntoken_sha256 = "my-secret-token"\n')
    with pytest.raises(SettingsError) as bad:
        load_settings(config, environ={})
    assert "token_sha256" in str(bad.value) and "my-secret-token" not in str(bad.value)

    config.write_text(
        '[[auth.principals]]\nname = "x"\nscopes = ["exports:frobnicate"]\ncert_identity = "x"\n'
    )
    with pytest.raises(SettingsError, match="scopes"):
        load_settings(config, environ={})
    config.write_text('[[auth.principals]]\nname = "x"\n')
    with pytest.raises(SettingsError, match="needs token_sha256, token_ref or cert_identity"):
        load_settings(config, environ={})


def test_non_loopback_needs_tls_and_principals(tmp_path: Path) -> None:
    config = tmp_path / "s.toml"
    config.write_text(
        'address = "0.0.0.0:7070"\n[[auth.principals]]\nname = "x"\ncert_identity = "x"\n'
    )
    with pytest.raises(SettingsError, match=r"configure \[tls\], or set insecure"):
        load_settings(config, environ={})
    with pytest.raises(SettingsError, match=r"configure \[tls\] and \[\[auth.principals\]\]"):
        load_settings(None, {"address": "0.0.0.0:7070"}, environ={})
    assert load_settings(None, {"address": "0.0.0.0:7070", "insecure": True}, environ={}).insecure
    loaded = load_settings(config, {"insecure": True}, environ={})
    assert [p.name for p in loaded.auth.principals] == ["x"]


def test_principal_roots_in_a_config_file_are_relative_to_it(tmp_path: Path) -> None:
    config = tmp_path / "s.toml"
    config.write_text(
        '[[auth.principals]]\nname = "x"\ncert_identity = "x"\n'
        'source_roots = ["data/x", "/abs", "s3://lake/x/"]\ndestination_roots = ["out"]\n'
    )
    (principal,) = load_settings(config, environ={}).auth.principals
    assert principal.source_roots == (str(tmp_path / "data/x"), "/abs", "s3://lake/x/")
    assert principal.destination_roots == (str(tmp_path / "out"),)


def test_a_named_sources_denial_names_the_field_the_caller_set() -> None:
    # The uri and profile are the server's config: the caller only named the source.
    principal = _principal(source_roots=("/data/mine",), profiles=())
    named = ExportSpec(
        source=SourceSpec("/data/other/people.parquet", profile="lake", name="people"),
        destination=DestinationSpec("/exports", "people"),
    )
    with pytest.raises(PermissionDenied, match=r"^spec\.source\.name: outside the sources"):
        check_spec_access(named, principal)
    allowed = _principal(profiles=())
    with pytest.raises(PermissionDenied, match=r"^spec\.source\.name: .*storage profile"):
        check_spec_access(named, allowed)


def test_a_hash_rule_naming_no_key_is_checked_as_the_default_key() -> None:
    # A rule naming no key hashes under "default": a principal whose hash_keys leave it
    # out may not use it by leaving the key out (nor through a template's rules).
    billing = _principal(hash_keys=("billing",))

    def spec(*rules: RedactionRuleSpec, template: bool = False) -> ExportSpec:
        redaction = RedactionSpec(template_rules=rules) if template else RedactionSpec(rules=rules)
        return ExportSpec(
            source=SourceSpec("/data/a.parquet"),
            destination=DestinationSpec("/exports", "a"),
            redaction=redaction,
        )

    unnamed = RedactionRuleSpec(column="email", action=" Hash ")
    for denied, field in (
        (spec(unnamed), r"spec\.redaction\.rules\[0\]\.key"),
        (spec(RedactionRuleSpec(column="email", action="hash", key="default")), None),
        (spec(unnamed, template=True), r"spec\.template \(its rule 1\)"),
    ):
        with pytest.raises(PermissionDenied, match=rf"^{field or '.*'}: .*'default'"):
            check_spec_access(denied, billing)
    check_spec_access(spec(RedactionRuleSpec(column="e", action="hash", key="billing")), billing)
    # Rules that hash nothing use no key; a principal listing "default", or none, may.
    check_spec_access(spec(RedactionRuleSpec(column="email", action="mask")), billing)
    check_spec_access(spec(unnamed), _principal(hash_keys=("default",)))
    check_spec_access(spec(unnamed), _principal())
