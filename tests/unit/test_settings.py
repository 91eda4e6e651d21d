"""Settings: defaults, a TOML file, SLUICE_* variables and overrides (later wins), with
bad keys and values refused by name; secrets by reference; the local digest key."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from sluice.secrets import SecretRef, SecretUnavailable
from sluice.server.errors import FailedPrecondition
from sluice.server.secrets import load_or_create_key, resolve_secret
from sluice.server.settings import Settings, SettingsError, ignored_environment, load_settings

MiB = 1024 * 1024


def _config(tmp_path: Path, text: str, name: str = "sluice.toml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults() -> None:
    settings = load_settings(None, None, environ={})
    # The replica id is new at every start (host name + random suffix).
    assert settings == Settings(replica_id=settings.replica_id)
    assert settings.address == "127.0.0.1:7070"
    assert settings.state_dir == Path(".sluice")
    assert settings.export_roots == (Path(".sluice/exports"),)
    assert settings.source_roots == (Path(".sluice/sources"),)
    assert settings.job_store_path == Path(".sluice/jobs.sqlite3")
    assert settings.max_concurrent_exports == 2
    assert settings.batch_rows == 65_536
    assert settings.pipeline_queue_depth == 4
    assert settings.default_chunk_bytes == 64 * MiB
    assert settings.default_chunk_rows == 1_000_000
    assert settings.max_chunk_bytes == 4096 * MiB
    assert settings.zstd_threads == 0
    assert settings.content_digest_key == ""
    assert settings.count_source_rows is True
    assert settings.log_level == "INFO"


def test_file_values(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        'address = "0.0.0.0:9000"\n'
        "insecure = true\n"
        "max_concurrent_exports = 5\n"
        "batch_rows = 1024\n"
        "count_source_rows = false\n"
        'log_level = "debug"\n'
        "shutdown_grace_seconds = 2.5\n"
        'content_digest_key = "env:MY_DIGEST_KEY"\n',
    )
    settings = load_settings(path, environ={})
    assert settings.address == "0.0.0.0:9000"
    assert settings.max_concurrent_exports == 5
    assert settings.batch_rows == 1024
    assert settings.count_source_rows is False
    assert settings.log_level == "DEBUG"
    assert settings.shutdown_grace_seconds == 2.5
    assert settings.content_digest_key == "env:MY_DIGEST_KEY"
    # Untouched keys keep their defaults.
    assert settings.default_chunk_rows == 1_000_000


def test_relative_paths_in_a_file_are_relative_to_its_folder(tmp_path: Path) -> None:
    path = _config(
        tmp_path / "etc",
        'state_dir = "state"\n'
        'allowed_roots = ["exports", "/abs/exports"]\n'
        'allowed_source_roots = ["../data"]\n',
    )
    settings = load_settings(path, environ={})
    etc = tmp_path / "etc"
    assert settings.state_dir == etc / "state"
    assert settings.allowed_roots == (etc / "exports", Path("/abs/exports"))
    assert settings.allowed_source_roots == (etc / "../data",)
    assert settings.job_store_path == etc / "state" / "jobs.sqlite3"


def test_audit_log_ca_files_and_secret_files_in_a_file_are_relative_to_it(tmp_path: Path) -> None:
    """README: relative paths in the config file are relative to the file, not to the
    folder the daemon happens to start in; absolute ones, env: and "stderr" unchanged."""
    path = _config(
        tmp_path / "etc",
        'audit_log = "audit.jsonl"\n'
        'job_store_sslrootcert = "pg-ca.pem"\n'
        'content_digest_key = "file:keys/digest.key"\n'
        'manifest_signing_key = "rawfile:/abs/signing.key"\n'
        'hash_keys = { default = "file:hk.key", other = "env:SLUICE_HK" }\n'
        'secrets = { share = "rawfile:../share.key", pasted = "file:no-such.key" }\n',
    )
    etc = tmp_path / "etc"
    for name in ("keys/digest.key", "hk.key", "../share.key"):
        (etc / name).parent.mkdir(parents=True, exist_ok=True)
        (etc / name).write_bytes(b"k" * 32)
    settings = load_settings(path, environ={})
    assert settings.audit_log == str(etc / "audit.jsonl")
    assert settings.job_store_sslrootcert == etc / "pg-ca.pem"
    assert settings.content_digest_key == f"file:{etc / 'keys/digest.key'}"
    assert settings.manifest_signing_key == "rawfile:/abs/signing.key"
    assert settings.hash_keys == {"default": f"file:{etc / 'hk.key'}", "other": "env:SLUICE_HK"}
    # Not a file there: left as written (errors never show a relative "path").
    assert settings.secrets == {
        "share": f"rawfile:{etc / '../share.key'}",
        "pasted": "file:no-such.key",
    }
    assert (
        load_settings(_config(tmp_path / "b", 'audit_log = "stderr"\n'), environ={}).audit_log
        == "stderr"
    )


def test_secret_references_inside_tables_are_relative_to_the_file(tmp_path: Path) -> None:
    """A profile's password_ref, a notification's secret_ref and a principal's token_ref
    stayed relative to the working directory, unlike the top-level ones."""
    path = _config(
        tmp_path / "etc",
        '[source_profiles.crm]\nkind = "postgresql"\nhosts = ["127.0.0.1:5432"]\n'
        'user = "u"\npassword_ref = "file:pw"\n'
        '[storage_profiles.lake]\nkind = "s3"\naccess_key_id_ref = "env:AK"\n'
        'secret_access_key_ref = "file:s3.key"\n'
        '[notifications.ops]\nurl = "https://hooks.example/x"\nsecret_ref = "file:hook.key"\n'
        '[[auth.principals]]\nname = "ops"\ntoken_ref = "file:ops.token"\n'
        'scopes = ["admin"]\n',
    )
    etc = tmp_path / "etc"
    for name in ("pw", "s3.key", "hook.key", "ops.token"):
        (etc / name).write_bytes(b"k" * 32)
    settings = load_settings(path, environ={})
    assert settings.source_profiles["crm"].password_ref == f"file:{etc / 'pw'}"
    lake = settings.storage_profiles["lake"]
    assert lake.secret_access_key_ref == f"file:{etc / 's3.key'}"  # type: ignore[union-attr]
    assert lake.access_key_id_ref == "env:AK"  # type: ignore[union-attr]
    assert settings.notifications["ops"].secret_ref == f"file:{etc / 'hook.key'}"
    assert settings.auth.principals[0].token_ref == f"file:{etc / 'ops.token'}"


def test_unknown_key_in_a_file_is_rejected_by_name(tmp_path: Path) -> None:
    path = _config(tmp_path, 'adress = "127.0.0.1:1"\nbatch_rows = 1024\nzzz_extra = 1\n')
    with pytest.raises(SettingsError) as raised:
        load_settings(path, environ={})
    message = str(raised.value)
    assert "adress" in message
    assert "zzz_extra" in message
    assert str(path) in message


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(_config(tmp_path, "address = \n"), environ={})


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"address": "localhost"}, "address"),
        ({"address": ":7070"}, "address"),
        ({"address": "host:port"}, "address"),
        ({"max_concurrent_exports": 0}, "max_concurrent_exports"),
        ({"max_concurrent_exports": 65}, "max_concurrent_exports"),
        ({"log_level": "chatty"}, "log_level"),
        ({"batch_rows": 10}, "batch_rows"),
        ({"default_chunk_bytes": 100}, "default_chunk_bytes"),
        ({"zstd_threads": -1}, "zstd_threads"),
        ({"max_chunk_bytes": 2048}, "max_chunk_bytes"),
        ({"grpc_receive_window_bytes": 1024}, "grpc_receive_window_bytes"),
        ({"grpc_receive_window_bytes": 512 * 1024 * 1024}, "grpc_receive_window_bytes"),
        ({"not_a_setting": 1}, "not_a_setting"),
        ({"metrics_address": "9090"}, "metrics_address"),
        ({"health_address": "localhost"}, "health_address"),
        ({"log_format": "xml"}, "log_format"),
        ({"otel_endpoint": "collector:4318"}, "otel_endpoint"),
        ({"otel_endpoint": "http://user:pw@collector:4318"}, "otel_endpoint"),
    ],
)
def test_bad_values_are_rejected_naming_the_key(overrides: dict[str, object], key: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(None, overrides, environ={})
    assert f"{key}:" in str(raised.value)


def test_bad_value_in_a_file_is_rejected(tmp_path: Path) -> None:
    path = _config(tmp_path, "max_concurrent_exports = 0\n")
    with pytest.raises(SettingsError, match="max_concurrent_exports"):
        load_settings(path, environ={})


def test_max_chunk_bytes_must_hold_the_default_chunk() -> None:
    settings = load_settings(
        None, {"max_chunk_bytes": 4096, "default_chunk_bytes": 4096}, environ={}
    )
    assert settings.max_chunk_bytes == settings.default_chunk_bytes == 4096
    with pytest.raises(SettingsError, match="default_chunk_bytes"):
        load_settings(None, {"max_chunk_bytes": 4096, "default_chunk_bytes": 8192}, environ={})


def test_ipv6_and_hostname_addresses() -> None:
    assert load_settings(None, {"address": "[::1]:7070"}, environ={}).address == "[::1]:7070"
    exposed = {"address": "sluice:80", "insecure": True}
    assert load_settings(None, exposed, environ={}).address == "sluice:80"


def test_environment_variables() -> None:
    settings = load_settings(
        None,
        None,
        environ={
            "SLUICE_ADDRESS": "0.0.0.0:7171",
            "SLUICE_INSECURE": "true",
            "SLUICE_ALLOWED_ROOTS": "/data/a:/data/b::",
            "SLUICE_ALLOWED_SOURCE_ROOTS": "/in",
            "SLUICE_MAX_CONCURRENT_EXPORTS": "7",
            "SLUICE_COUNT_SOURCE_ROWS": "false",
            "SLUICE_STATE_DIR": "/var/lib/sluice",
            "PATH": "/usr/bin",
        },
    )
    assert settings.address == "0.0.0.0:7171"
    assert settings.allowed_roots == (Path("/data/a"), Path("/data/b"))
    assert settings.allowed_source_roots == (Path("/in"),)
    assert settings.max_concurrent_exports == 7
    assert settings.count_source_rows is False
    assert settings.state_dir == Path("/var/lib/sluice")


def test_bad_environment_value_is_rejected() -> None:
    with pytest.raises(SettingsError, match="batch_rows"):
        load_settings(None, None, environ={"SLUICE_BATCH_ROWS": "lots"})


def test_precedence_overrides_then_environment_then_file(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        'address = "127.0.0.1:1111"\n'
        "batch_rows = 1024\n"
        "zstd_threads = 1\n"
        'state_dir = "file-state"\n',
    )
    environ = {"SLUICE_ADDRESS": "127.0.0.1:2222", "SLUICE_BATCH_ROWS": "2048"}
    settings = load_settings(path, {"address": "127.0.0.1:3333"}, environ=environ)
    assert settings.address == "127.0.0.1:3333"  # override beats env and file
    assert settings.batch_rows == 2048  # env beats file
    assert settings.zstd_threads == 1  # file beats default
    assert settings.state_dir == tmp_path / "file-state"
    # Overrides that were not given (None or empty) leave the lower layers alone.
    unset = load_settings(path, {"address": None, "allowed_roots": []}, environ=environ)
    assert unset.address == "127.0.0.1:2222"
    assert unset.allowed_roots == ()


def test_unknown_sluice_variable_is_ignored_and_named() -> None:
    environ = {
        "SLUICE_ADRESS": "1.2.3.4:5",
        "SLUICE_SERVER": "elsewhere:7070",
        "SLUICE_DIGEST_KEY": "s3cr3t-value",
        "SLUICE_HOOK_SECRET": "whsec-value",
    }
    settings = load_settings(
        None, {"webhook_secret_ref": "env:SLUICE_HOOK_SECRET"}, environ=environ
    )
    assert settings.address == "127.0.0.1:7070"
    # The daemon logs these once its logging is set up (text or JSON lines).
    ignored = ignored_environment(settings, environ)
    assert ignored == ["SLUICE_ADRESS", "SLUICE_DIGEST_KEY"]
    # The client's own variable is not a typo, and a secret the config names is used.


def test_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_ZSTD_THREADS", "3")
    assert load_settings().zstd_threads == 3


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.address = "0.0.0.0:1"  # type: ignore[misc]


# --- secrets ---------------------------------------------------------------------------


def test_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SLUICE_SECRET", "correct horse")
    ref = SecretRef("env:TEST_SLUICE_SECRET")
    assert ref.resolve() == b"correct horse"
    assert repr(ref) == "SecretRef(env:TEST_SLUICE_SECRET)"
    assert "correct horse" not in repr(ref)
    assert "correct horse" not in str(ref)


def test_secret_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_bytes(b"  file-secret-value\n")
    ref = SecretRef(f"file:{path}")
    assert ref.resolve() == b"file-secret-value"
    assert "file-secret-value" not in repr(ref)


def test_missing_secrets_fail_without_their_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TEST_SLUICE_MISSING", raising=False)
    monkeypatch.setenv("TEST_SLUICE_EMPTY", "")
    empty_file = tmp_path / "empty"
    empty_file.write_text("  \n")
    unreadable = tmp_path / "folder"
    unreadable.mkdir()
    cases = {
        "env:TEST_SLUICE_MISSING": "TEST_SLUICE_MISSING",
        "env:TEST_SLUICE_EMPTY": "TEST_SLUICE_EMPTY",
        f"file:{tmp_path / 'nope'}": "nope",
        f"file:{empty_file}": "empty",
        f"file:{unreadable}": "folder",
    }
    for reference, named in cases.items():
        with pytest.raises(SecretUnavailable) as unavailable:
            SecretRef(reference).resolve()
        assert named in unavailable.value.message
        # The daemon answers it as the operator's configuration problem.
        with pytest.raises(FailedPrecondition) as raised:
            resolve_secret(reference)
        assert raised.value.code == "FAILED_PRECONDITION"
        assert raised.value.message == unavailable.value.message


def test_a_secret_that_exists_never_appears_in_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A raw secret where a reference belongs is refused without being echoed back.
    for raw in ("hunter2-not-a-reference", "vault:hunter2", "env:", "file:"):
        with pytest.raises(ValueError) as raised:
            SecretRef(raw)
        assert "hunter2" not in str(raised.value)
        assert "env:NAME or file:PATH" in str(raised.value)


def test_load_or_create_key_creates_a_private_key_once(tmp_path: Path) -> None:
    path = tmp_path / "state" / "keys" / "content-digest.key"
    key = load_or_create_key("", path)
    assert len(key) == 32
    assert path.read_bytes() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    assert sorted(os.listdir(path.parent)) == ["content-digest.key"]

    assert load_or_create_key("", path) == key
    assert path.read_bytes() == key
    assert load_or_create_key("", tmp_path / "other.key") != key


def test_load_or_create_key_prefers_the_reference(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TEST_SLUICE_DIGEST", "configured-key")
    path = tmp_path / "keys" / "content-digest.key"
    assert load_or_create_key("env:TEST_SLUICE_DIGEST", path) == b"configured-key"
    assert not path.exists()
    monkeypatch.delenv("TEST_SLUICE_DIGEST")
    with pytest.raises(FailedPrecondition):
        load_or_create_key("env:TEST_SLUICE_DIGEST", path)


def test_an_empty_key_file_is_refused_not_used(tmp_path: Path) -> None:
    # HMAC accepts an empty key, so silently using one would weaken every digest.
    path = tmp_path / "keys" / "content-digest.key"
    path.parent.mkdir()
    path.write_bytes(b"")
    with pytest.raises(FailedPrecondition, match="empty"):
        load_or_create_key("", path)


def test_a_secret_given_in_place_of_a_reference_is_refused_without_echo() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(None, {"content_digest_key": "hunter2-literal"}, environ={})
    assert "content_digest_key" in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_verification_keys_are_references_in_the_file_and_the_environment(
    tmp_path: Path,
) -> None:
    """manifest_verification_keys: references, relative files relative to the config
    file, comma-separated in SLUICE_MANIFEST_VERIFICATION_KEYS; a value in place of a
    reference is refused naming its position, never echoed."""
    etc = tmp_path / "etc"
    path = _config(
        etc,
        'manifest_signing_key = "file:/abs/signing.pem"\n'
        'manifest_verification_keys = ["file:old.pub.pem", "env:SLUICE_OLDER"]\n',
    )
    (etc / "old.pub.pem").write_text("a public key")
    settings = load_settings(path, environ={})
    assert settings.manifest_verification_keys == (
        f"file:{etc / 'old.pub.pem'}",
        "env:SLUICE_OLDER",
    )
    environ = {
        "SLUICE_MANIFEST_SIGNING_KEY": "env:SIGNING",
        "SLUICE_MANIFEST_VERIFICATION_KEYS": "file:/keys/a.pub.pem, env:SLUICE_B",
    }
    settings = load_settings(None, environ=environ)
    assert settings.manifest_verification_keys == ("file:/keys/a.pub.pem", "env:SLUICE_B")
    with pytest.raises(SettingsError) as raised:
        load_settings(
            None,
            {"manifest_signing_key": "env:K", "manifest_verification_keys": ["env:A", "hunter2"]},
            environ={},
        )
    assert "manifest_verification_keys" in str(raised.value) and "[1]" in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_home_is_expanded_in_configured_paths(tmp_path: Path) -> None:
    settings = load_settings(
        None, {"state_dir": "~/state", "allowed_roots": ["~/exports"]}, environ={}
    )
    assert settings.state_dir == Path.home() / "state"
    assert settings.allowed_roots == (Path.home() / "exports",)


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1:7070", True),
        ("127.1.2.3:7070", True),
        ("localhost:7070", True),
        ("[::1]:7070", True),
        ("0.0.0.0:7070", False),
        ("[::]:7070", False),
        ("10.1.2.3:7070", False),
        ("sluice.internal:7070", False),
    ],
)
def test_a_non_loopback_address_needs_tls_or_insecure(address: str, loopback: bool) -> None:
    if loopback:
        assert load_settings(overrides={"address": address}, environ={}).loopback_only
    else:
        with pytest.raises(SettingsError, match="not a loopback address"):
            load_settings(overrides={"address": address}, environ={})
        assert not load_settings(
            overrides={"address": address, "insecure": True}, environ={}
        ).loopback_only


def test_tls_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "sluice.toml"
    config.write_text(
        'address = "0.0.0.0:7070"\n[tls]\ncert_file = "tls/tls.crt"\nkey_file = "tls/tls.key"\n'
        'client_ca_file = "/etc/ca.crt"\nrequire_client_auth = true\n'
        '[[auth.principals]]\nname = "x"\ncert_identity = "x"\n'
    )
    settings = load_settings(config, environ={})
    assert settings.tls is not None
    assert settings.tls.cert_file == tmp_path / "tls" / "tls.crt"
    assert settings.tls.client_ca_file == Path("/etc/ca.crt")


def test_client_auth_needs_a_client_ca(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="require_client_auth needs client_ca_file"):
        load_settings(
            overrides={"tls": {"cert_file": "a", "key_file": "b", "require_client_auth": True}},
            environ={},
        )


def test_client_tls_variables_are_not_daemon_settings() -> None:
    environ = {"SLUICE_TLS_CA": "/ca.crt", "SLUICE_TLS_CERT": "/c", "SLUICE_TLS_KEY": "/k"}
    assert load_settings(environ=environ).tls is None


# -- job store -------------------------------------------------------------------------


def test_job_store_defaults_to_sqlite_in_the_state_folder() -> None:
    settings = load_settings(None, None, environ={})
    assert (settings.job_store, settings.job_store_kind) == ("", "sqlite")


def test_job_store_from_the_environment_selects_postgres() -> None:
    url = "postgresql://sluice@db.internal:5432/jobs"
    settings = load_settings(None, None, environ={"SLUICE_JOB_STORE": url})
    assert (settings.job_store, settings.job_store_kind) == (url, "postgresql")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://sluice:hunter2@db.internal:5432/jobs",
        "postgres://sluice:hunter2@db.internal/jobs",
        "postgresql://sluice@db.internal/jobs?password=hunter2",
    ],
)
def test_a_password_in_the_job_store_url_is_refused_without_echo(url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(None, {"job_store": url}, environ={})
    message = str(caught.value)
    assert "job_store" in message and "job_store_password_ref" in message
    assert "hunter2" not in message


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"job_store": "mysql://sluice@db/jobs"}, "job_store"),
        ({"job_store": "/var/lib/jobs.sqlite3"}, "job_store"),
        ({"job_store_password_ref": "hunter2"}, "job_store_password_ref"),
        ({"job_store_sslmode": "sometimes"}, "job_store_sslmode"),
        ({"job_store_pool_size": 0}, "job_store_pool_size"),
    ],
)
def test_bad_job_store_settings_are_refused_by_name(overrides: dict[str, object], key: str) -> None:
    with pytest.raises(SettingsError, match=key):
        load_settings(None, overrides, environ={})


def test_job_store_tls_and_password_reach_libpq(monkeypatch: pytest.MonkeyPatch) -> None:
    from sluice.server.jobs.postgres import options_from_settings, redacted

    monkeypatch.setenv("DB_PASSWORD", "s3cret\n")
    settings = load_settings(
        None,
        {
            "job_store": "postgresql://sluice@db.internal:5432/jobs",
            "job_store_password_ref": "env:DB_PASSWORD",
            "job_store_sslmode": "verify-full",
            "job_store_sslrootcert": "/etc/sluice/ca.pem",
        },
        environ={},
    )
    assert options_from_settings(settings) == {
        "password": "s3cret",
        "sslmode": "verify-full",
        "sslrootcert": "/etc/sluice/ca.pem",
    }
    # libpq's own defaults (PGPASSWORD, ~/.pgpass, PGSSLMODE) apply to what is not set.
    assert options_from_settings(Settings(job_store="postgresql://u@h/d")) == {}
    assert redacted("postgresql://u@h:5/d?application_name=x") == "postgresql://u@h:5/d"


def test_job_store_keepalives_default_to_a_minute_unless_its_url_sets_them() -> None:
    from sluice.server.postgres_liveness import DEAD_PEER_PARAMS, dead_peer_params_for

    assert dead_peer_params_for("postgresql://u@h:5/d") == DEAD_PEER_PARAMS
    assert DEAD_PEER_PARAMS["keepalives_idle"] == "30"
    chosen = dead_peer_params_for("postgresql://u@h:5/d?keepalives_idle=5&tcp_user_timeout=0")
    assert "keepalives_idle" not in chosen and "tcp_user_timeout" not in chosen
    assert chosen["keepalives_count"] == "3"
    # A URL libpq cannot parse gets them all; connecting then fails naming the store.
    assert dead_peer_params_for("postgresql://u@h/d?foo=bar") == DEAD_PEER_PARAMS


def test_replica_id_defaults_to_the_host_and_a_fresh_suffix() -> None:
    import socket

    first = load_settings(None, None, environ={}).replica_id
    second = load_settings(None, None, environ={}).replica_id
    host = socket.gethostname().split(".")[0]
    assert first.startswith(host + "-") and second.startswith(host + "-")
    assert first != second
    assert load_settings(None, None, environ={"SLUICE_REPLICA_ID": "pod-a"}).replica_id == "pod-a"
    leased = load_settings(None, None, environ={"SLUICE_JOB_LEASE_SECONDS": "5"})
    assert leased.job_lease_seconds == 5.0
    assert load_settings(None, None, environ={}).job_lease_seconds == 30.0
    with pytest.raises(SettingsError, match="job_lease_seconds"):
        load_settings(None, None, environ={"SLUICE_JOB_LEASE_SECONDS": "0.1"})


def test_operating_settings_are_off_by_default_and_read_from_the_environment() -> None:
    defaults = load_settings(None, environ={})
    assert (defaults.metrics_address, defaults.health_address) == ("", "")
    assert defaults.log_format == "text" and defaults.metrics_dataset_label is False
    settings = load_settings(
        None,
        environ={
            "SLUICE_METRICS_ADDRESS": "0.0.0.0:9090",
            "SLUICE_HEALTH_ADDRESS": "0.0.0.0:7071",
            "SLUICE_LOG_FORMAT": "json",
            "SLUICE_METRICS_DATASET_LABEL": "true",
        },
    )
    assert settings.metrics_address == "0.0.0.0:9090"
    assert settings.health_address == "0.0.0.0:7071"
    assert settings.log_format == "json" and settings.metrics_dataset_label is True


def test_a_source_profile_ca_file_is_relative_to_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "sluice.toml"
    config.parent.mkdir()
    config.write_text(
        '[source_profiles.shop]\nkind = "postgresql"\nhosts = ["db:5432"]\nuser = "reader"\n'
        'sslmode = "verify-full"\nsslrootcert = "certs/ca.pem"\n'
    )
    settings = load_settings(config, environ={})
    assert settings.source_profiles["shop"].sslrootcert == tmp_path / "conf" / "certs" / "ca.pem"


def test_a_relative_source_profile_ca_file_outside_a_config_file_is_refused_by_name() -> None:
    profile = {"kind": "postgresql", "hosts": ["db:5432"], "user": "r", "sslrootcert": "ca.pem"}
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={}, overrides={"source_profiles": {"shop": profile}})
    assert "sslrootcert" in str(caught.value) and "absolute" in str(caught.value)


def test_the_advised_content_key_reference_reads_a_generated_key_byte_exact(
    tmp_path: Path,
) -> None:
    # A generated key is 32 random bytes: about one in 23 starts or ends with a byte that
    # file:'s strip() removes, which would change the key on upgrade.
    import re

    from sluice.server.main import _require_a_shared_content_key

    settings = load_settings(
        None,
        {"state_dir": tmp_path / "state", "job_store": "postgresql://sluice@db/sluice"},
        environ={},
    )
    with pytest.raises(FailedPrecondition) as raised:
        _require_a_shared_content_key(settings)
    advised = re.search(r'content_digest_key = "([^"]+)"', str(raised.value))
    assert advised is not None
    generated = tmp_path / "state" / "keys" / "content-digest.key"
    generated.parent.mkdir(parents=True)
    key = b"\n\t" + os.urandom(28) + b" \n"
    generated.write_bytes(key)
    assert load_or_create_key("", generated) == key  # what the daemon used before
    assert load_or_create_key(advised.group(1), tmp_path / "elsewhere.key") == key
    assert SecretRef(f"file:{generated}").resolve() == key.strip()  # file: still strips
    settings = load_settings(None, {"content_digest_key": f"rawfile:{generated}"}, environ={})
    assert settings.content_digest_key == f"rawfile:{generated}"


def test_a_reference_never_shows_what_may_be_a_pasted_secret(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as refused:
        SecretRef("env:hunter2+Zm9v/PASTED==")
    assert "PASTED" not in str(refused.value) and "21 characters" in str(refused.value)
    relative = SecretRef("file:hunter2PASTED")
    assert "PASTED" not in repr(relative) and "13 characters" in repr(relative)
    with pytest.raises(SecretUnavailable) as unreadable:
        relative.resolve()
    assert "PASTED" not in unreadable.value.message
    absolute = SecretRef(f"file:{tmp_path}/missing.key")
    with pytest.raises(SecretUnavailable) as missing:
        absolute.resolve()
    assert f"{tmp_path}/missing.key" in missing.value.message  # an absolute path is shown


_KEY = {"hash_keys": {"pseudonyms": "env:PSEUDONYM_KEY"}}
_PRINCIPAL = {"name": "ops", "token_sha256": "a" * 64}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"key_index_key": "nokey"}, "key_index_key is not an entry of hash_keys"),
        (
            {"sources": {"s": {"uri": "/data/s.parquet", "profile": "nope"}}},
            "sources.s.profile: no storage_profiles or source_profiles entry 'nope'",
        ),
        (
            {"templates": {"t": {"redaction_policy": "nope"}}},
            "templates.t.redaction_policy: no redaction_policies entry 'nope'",
        ),
        (
            {"templates": {"t": {"source_name": "nope"}}},
            "templates.t.source_name: no sources entry 'nope'",
        ),
        (
            {"templates": {"t": {"passphrase_secret": "nosecret"}}},
            "templates.t.passphrase_secret is not an entry of secrets",
        ),
        (
            {"auth": {"principals": [_PRINCIPAL | {"hash_keys": ["pseudonyms", "nokey"]}]}},
            "auth.principals[ops].hash_keys names an entry that hash_keys does not have",
        ),
        (
            {"auth": {"principals": [_PRINCIPAL | {"secrets": ["nosecret"]}]}},
            "auth.principals[ops].secrets names an entry that secrets does not have",
        ),
        (
            {"auth": {"principals": [_PRINCIPAL | {"profiles": ["nope"]}]}},
            "auth.principals[ops].profiles names an entry that profiles does not have",
        ),
    ],
)
def test_a_setting_naming_an_entry_that_is_not_there_is_refused(
    overrides: dict[str, object], expected: str
) -> None:
    """They loaded, and every request relying on them failed blaming its caller (or an
    allow-list silently allowed nothing)."""
    with pytest.raises(SettingsError, match=re.escape(expected)):
        load_settings(None, _KEY | overrides, environ={})


def test_names_that_are_there_load() -> None:
    settings = load_settings(
        None,
        _KEY
        | {
            "key_index_key": "pseudonyms",
            "secrets": {"zip": "env:ZIP_PASSWORD"},
            "redaction_policies": {"pii": {"level": "moderate"}},
            "sources": {"s": {"uri": "/data/s.parquet"}},
            "templates": {
                "t": {"redaction_policy": "pii", "source_name": "s", "zip_password_secret": "zip"}
            },
            "auth": {"principals": [_PRINCIPAL | {"hash_keys": ["pseudonyms", "default"]}]},
        },
        environ={},
    )
    assert settings.key_index_key == "pseudonyms"


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"column": "email", "action": "mask", "keep_last": "four"}, "keep_last must be a whole"),
        ({"column": "email", "action": "mask", "keep_last": True}, "keep_last must be a whole"),
        ({"column": 3, "action": "drop"}, "rules[0].column must be a string"),
    ],
)
def test_a_policy_rule_field_of_the_wrong_type_is_refused(
    rule: dict[str, object], expected: str
) -> None:
    """keep_last = "four" loaded and failed the first request naming the policy with an
    unhandled TypeError."""
    policies = {"redaction_policies": {"pii": {"level": "basic", "rules": [rule]}}}
    with pytest.raises(SettingsError, match=re.escape(expected)):
        load_settings(None, policies, environ={})
