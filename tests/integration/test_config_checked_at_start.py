"""Configuration an operator got wrong is refused when `sluice serve` starts, naming the
setting (and never echoing a secret), rather than accepted and failing the first caller
who uses it, blamed for it; and what the daemon silently ignores is said at start."""

from __future__ import annotations

import grpc
import pytest

from sluice.client import ExportClient
from sluice.client.demo_data import generate
from sluice.v1 import export_pb2 as pb
from sluice.v1 import export_pb2_grpc
from tests.daemon import Daemon

pytestmark = pytest.mark.integration

CANARY = "CNRYOPSPW5519"


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({"levl": "strict"}, "redaction_policies: policy 'pii': unknown key(s) levl"),
        (
            {"level": "basic", "rules": [{"colum": "email", "action": "drop"}]},
            "redaction_policies: policy 'pii': rules[0]: unknown key(s) colum",
        ),
    ],
)
def test_a_redaction_policy_with_an_unknown_key_refuses_the_start(  # type: ignore[no-untyped-def]
    daemon_factory, policy: dict[str, object], expected: str
) -> None:
    daemon: Daemon = daemon_factory("policy-typo", redaction_policies={"pii": policy})
    refused = daemon.serve_refused()
    output = refused.stdout + refused.stderr
    assert refused.returncode == 2, output
    assert expected in output, output


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"column": "email", "action": "hsah"}, "unknown action 'hsah'"),
        ({"pattern": "(", "action": "redact"}, "invalid regular expression"),
        ({"pattern": "EMAL", "action": "redact"}, "unknown entity 'EMAL'"),
        ({"column": "email", "action": "hash", "key": "nokey"}, "no hash key of that name"),
    ],
)
def test_a_server_policy_rule_that_cannot_apply_refuses_the_start(  # type: ignore[no-untyped-def]
    daemon_factory, rule: dict[str, str], expected: str
) -> None:
    """It loaded, and failed every request naming the policy (FAILED_PRECONDITION, the
    server's fault) until an operator read the log: now the start names it."""
    policies = {"pii": {"level": "basic", "rules": [rule]}}
    daemon: Daemon = daemon_factory("policy-rule", redaction_policies=policies)
    refused = daemon.serve_refused()
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0, output
    assert "server policy rule redaction_policies.pii.rules[0] cannot apply" in output, output
    assert expected in output, output
    assert "Traceback" not in output, output


def test_a_policy_whose_hash_key_went_missing_after_the_start_is_failed_precondition(  # type: ignore[no-untyped-def]
    daemon_factory,
) -> None:
    """The caller named a configured policy correctly: the server's rule is at fault."""
    policies = {"pii": {"level": "basic", "rules": [{"column": "email", "action": "hash"}]}}
    daemon: Daemon = daemon_factory(
        "policy-key-gone", redaction_policies=policies, hash_keys={"default": "file:hash.key"}
    )
    key = daemon.root / "hash.key"
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_bytes(b"h" * 32)
    daemon.start()
    key.unlink()
    source = generate(daemon.sources / "events.parquet", 20, seed=5)
    spec = ExportClient.build_spec(
        source=str(source),
        to=str(daemon.exports),
        dataset="ev",
        redaction=pb.Redaction(policy="pii"),
    )
    with daemon.channel() as channel, pytest.raises(grpc.RpcError) as refused:
        export_pb2_grpc.ExportServiceStub(channel).CreateExport(
            pb.CreateExportRequest(spec=spec), timeout=30
        )
    error = refused.value
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error.details()
    assert "spec.redaction.policy[pii].rules[0]: hash key 'default' cannot be read" in (
        error.details()
    )


@pytest.mark.parametrize("table", ["hash_keys", "secrets"])
def test_a_secret_pasted_into_a_named_secret_table_refuses_the_start_unechoed(  # type: ignore[no-untyped-def]
    daemon_factory, table: str
) -> None:
    daemon: Daemon = daemon_factory(f"pasted-{table}", **{table: {"share": CANARY}})
    refused = daemon.serve_refused()
    output = refused.stdout + refused.stderr
    assert refused.returncode == 2, output
    assert f"{table}: entry 'share': a secret reference must be env:NAME or file:PATH" in output
    assert CANARY not in output, output


@pytest.mark.parametrize(
    "uri",
    [
        f"postgresql://sales:{CANARY}@127.0.0.1:9/crm",
        f"s3://AKIAX:{CANARY}@bucket/d/*",
        f"postgresql://sales@127.0.0.1:9/crm?sslmode=require&password={CANARY}",
    ],
)
def test_a_named_source_uri_holding_a_password_refuses_the_start_unechoed(  # type: ignore[no-untyped-def]
    daemon_factory, uri: str
) -> None:
    daemon: Daemon = daemon_factory("source-pw", sources={"crm": {"uri": uri, "table": "t"}})
    refused = daemon.serve_refused()
    output = refused.stdout + refused.stderr
    assert refused.returncode == 2, output
    assert "sources.crm.uri: must not hold a password" in output, output
    assert "source_profiles.NAME.password_ref" in output, output
    assert CANARY not in output, output


@pytest.mark.parametrize(
    ("setting", "address"),
    [
        ("health_address", "127.0.0.1:122743"),
        ("metrics_address", "127.0.0.1:99999"),
        ("address", "127.0.0.1:65536"),
    ],
)
def test_a_port_above_65535_refuses_the_start(  # type: ignore[no-untyped-def]
    daemon_factory, setting: str, address: str
) -> None:
    daemon: Daemon = daemon_factory(f"port-{setting}", **{setting: address})
    refused = daemon.serve_refused()
    output = refused.stdout + refused.stderr
    assert refused.returncode == 2, output
    assert f"{setting}: must be HOST:PORT (PORT 0-65535)" in output, output
    assert "Traceback" not in output, output


def test_client_variables_set_on_the_daemon_are_named_once_at_start(daemon_factory) -> None:  # type: ignore[no-untyped-def]
    daemon: Daemon = daemon_factory("client-env")
    daemon.env |= {"SLUICE_TOKEN": CANARY, "SLUICE_TLS_CERT": f"/run/{CANARY}.pem"}
    daemon.start()
    daemon.stop(timeout=20)
    warnings = [line for line in daemon.log_path.read_text().splitlines() if "SLUICE_TOKEN" in line]
    assert len(warnings) == 1, warnings
    assert "WARNING" in warnings[0] and "SLUICE_TLS_CERT, SLUICE_TOKEN" in warnings[0]
    assert "configure the sluice CLI/client, not the daemon" in warnings[0]
    assert CANARY not in daemon.log_path.read_text()


def test_an_unreadable_job_store_password_names_its_setting(daemon_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "no-such-dir" / "pg-password"
    daemon: Daemon = daemon_factory(
        "pg-password",
        job_store="postgresql://sluice@127.0.0.1:9/sluice",
        job_store_password_ref=f"file:{missing}",
    )
    refused = daemon.serve_refused(timeout=120)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0, output
    assert f"job_store_password_ref: secret file:{missing} cannot be read" in output, output


def test_relative_audit_log_and_secret_files_are_relative_to_the_config_file(  # type: ignore[no-untyped-def]
    daemon_factory,
) -> None:
    """The daemon starts in another folder (the repository): the audit log and the hash
    key file still live beside its config file, as README says."""
    daemon: Daemon = daemon_factory(
        "relative", audit_log="audit.jsonl", hash_keys={"default": "file:keys/hash.key"}
    )
    (daemon.root / "keys").mkdir(parents=True)
    (daemon.root / "keys" / "hash.key").write_bytes(b"h" * 32)
    daemon.start()
    source = generate(daemon.sources / "events.parquet", 20, seed=5)
    spec = ExportClient.build_spec(
        source=str(source),
        to=str(daemon.exports),
        dataset="ev",
        redaction=pb.Redaction(rules=[pb.RedactionRule(column="email", action="hash")]),
    )
    with daemon.channel() as channel:
        created = export_pb2_grpc.ExportServiceStub(channel).CreateExport(
            pb.CreateExportRequest(spec=spec), timeout=30
        )
    daemon.stop(timeout=20)
    audit = (daemon.root / "audit.jsonl").read_text()
    assert created.id in audit, audit
