"""The Helm chart, rendered offline for every values file in helm/sluice/ci/: each
object valid for three Kubernetes versions (kubernetes-validate --strict), the renders
equal to the golden files checked in (so a template change shows in review), `helm lint
--strict` clean, the shapes (StatefulSet with SQLite, Deployment with PostgreSQL) and
their refusals, the hardened defaults, and a README that lists every value."""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest

from sluice.server.settings import load_settings
from tests.chart.rendering import (
    CHART,
    CI_VALUES,
    WITH_PROMETHEUS_OPERATOR,
    as_text,
    by_kind,
    documents,
    load_values,
    render,
)

GOLDEN = Path(__file__).parent / "golden"
#: The oldest Kubernetes the chart supports (Chart.yaml kubeVersion: native grpc probes
#: are GA from 1.27, sidecar-free), the one most clusters run, and the newest known.
KUBE_VERSIONS = ("1.29.0", "1.33.0", kubernetes_validate.latest_version())
#: Custom resources kubernetes-validate has no schema for.
CUSTOM_KINDS = {"ServiceMonitor"}


def _ci(name: str) -> dict[str, Any]:
    return load_values(CHART / "ci" / f"{name}-values.yaml")


def _name(path: Path) -> str:
    return path.name.removesuffix("-values.yaml")


def test_there_are_the_four_scenarios() -> None:
    assert [_name(p) for p in CI_VALUES] == ["irsa", "postgres-ha", "single", "tls-metrics"]


@pytest.mark.parametrize("values_file", CI_VALUES, ids=_name)
def test_every_object_is_valid_for_three_kubernetes_versions(values_file: Path) -> None:
    objects = documents(render(load_values(values_file), api_versions=WITH_PROMETHEUS_OPERATOR))
    assert objects
    for version in KUBE_VERSIONS:
        for document in objects:
            if document["kind"] in CUSTOM_KINDS:
                continue
            kubernetes_validate.validate(document, version, strict=True)


@pytest.mark.parametrize(
    "values_file", [None, *CI_VALUES], ids=lambda p: _name(p) if p else "defaults"
)
def test_the_rendered_config_is_one_the_daemon_starts_with(
    values_file: Path | None, tmp_path: Path
) -> None:
    """The settings the daemon reads at start (the ConfigMap's sluice.toml and the
    workload's SLUICE_* variables) load: tls-metrics rendered a config the daemon refused
    (TLS on 0.0.0.0 with no principals), a pod crash-looping after a clean install."""
    manifests = render(load_values(values_file) if values_file else {})
    config = tmp_path / "sluice.toml"
    config.write_text(by_kind(manifests, "ConfigMap")[0]["data"]["sluice.toml"])
    environ = {
        variable["name"]: variable.get("value", "from-a-secret")
        for workload in by_kind(manifests, "Deployment") + by_kind(manifests, "StatefulSet")
        for container in workload["spec"]["template"]["spec"]["containers"]
        for variable in container.get("env", [])
        if variable["name"].startswith("SLUICE_")
    }
    load_settings(config, environ=environ)


def test_tls_without_principals_is_refused_at_install() -> None:
    values = {"tls": {"enabled": True, "existingSecret": "sluice-tls"}}
    refused = r"tls\.enabled with no config\.auth\.principals"
    with pytest.raises(helm.HelmRenderError, match=refused):
        render(values)
    render(values | {"config": {"insecure": True}})


@pytest.mark.parametrize("values_file", CI_VALUES, ids=_name)
def test_render_equals_the_golden_file(values_file: Path) -> None:
    """SLUICE_UPDATE_GOLDEN=1 rewrites them; review the diff."""
    text = as_text(render(load_values(values_file), api_versions=WITH_PROMETHEUS_OPERATOR))
    golden = GOLDEN / f"{_name(values_file)}.yaml"
    if os.environ.get("SLUICE_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert golden.read_text() == text, f"{golden.name} is stale: SLUICE_UPDATE_GOLDEN=1"


@pytest.mark.parametrize(
    "values_file", [None, *CI_VALUES], ids=lambda p: _name(p) if p else "defaults"
)
def test_helm_lint_strict_is_clean(values_file: Path | None) -> None:
    values = load_values(values_file) if values_file else None
    report = helm.lint(CHART, values, strict=True)
    assert report["errors"] == [], report
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert problems == [], problems


def test_single_replica_is_a_statefulset_with_a_pvc_and_sqlite() -> None:
    manifests = render(_ci("single"))
    (workload,) = by_kind(manifests, "StatefulSet")
    assert not by_kind(manifests, "Deployment")
    claim = workload["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert claim["spec"]["storageClassName"] == "fast-ssd"
    assert claim["metadata"]["annotations"] == {"backup.velero.io/backup-volumes": "state"}
    assert workload["spec"]["serviceName"] == "sluice-headless"
    headless = [s for s in by_kind(manifests, "Service") if s["spec"].get("clusterIP") == "None"]
    assert len(headless) == 1
    config = _config(manifests)
    assert "job_store" not in config and config["state_dir"] == "/var/lib/sluice"
    assert (
        config["storage_profiles"]["lake"]["secret_access_key_ref"] == "env:AWS_SECRET_ACCESS_KEY"
    )
    container = workload["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": "sluice-storage-credentials"}}]


def test_postgres_replicas_are_a_deployment_with_hpa_and_pdb() -> None:
    manifests = render(_ci("postgres-ha"))
    (workload,) = by_kind(manifests, "Deployment")
    assert not by_kind(manifests, "StatefulSet")
    assert "replicas" not in workload["spec"]  # the HPA owns the count
    (hpa,) = by_kind(manifests, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
    assert by_kind(manifests, "PodDisruptionBudget")[0]["spec"]["minAvailable"] == 2
    config = _config(manifests)
    assert config["job_store"] == "postgresql://sluice@postgres.db.svc:5432/sluice"
    assert config["job_store_password_ref"] == "env:JOB_STORE_PASSWORD"
    assert config["job_store_sslrootcert"] == "/etc/sluice/postgres/ca.crt"
    env = {e["name"]: e for e in workload["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["JOB_STORE_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "sluice-postgres",
        "key": "password",
    }
    assert env["SLUICE_REPLICA_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["SLUICE_JOB_LEASE_SECONDS"]["value"] == "30"
    # The password only by reference: no value anywhere in what the chart renders.
    assert "value" not in env["JOB_STORE_PASSWORD"]


def test_tls_probes_use_the_plaintext_health_port() -> None:
    manifests = render(_ci("tls-metrics"), api_versions=WITH_PROMETHEUS_OPERATOR)
    (workload,) = by_kind(manifests, "StatefulSet")
    container = workload["spec"]["template"]["spec"]["containers"][0]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["grpc"]["port"] == 7071, probe
    config = _config(manifests)
    assert config["health_address"] == "0.0.0.0:7071"
    assert config["tls"] == {
        "cert_file": "/etc/sluice/tls/tls.crt",
        "key_file": "/etc/sluice/tls/tls.key",
        "client_ca_file": "/etc/sluice/tls/ca.crt",
        "require_client_auth": True,
    }
    assert "insecure" not in config
    assert config["metrics_address"] == "0.0.0.0:9090" and config["metrics_dataset_label"]
    (monitor,) = by_kind(manifests, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    (dashboard,) = [c for c in by_kind(manifests, "ConfigMap") if "sluice.json" in c["data"]]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    (policy,) = by_kind(manifests, "NetworkPolicy")
    assert [rule["ports"][0]["port"] for rule in policy["spec"]["ingress"]] == ["grpc", "metrics"]
    assert all(rule["from"] for rule in policy["spec"]["ingress"])


def test_service_monitor_only_where_the_operator_api_exists() -> None:
    assert not by_kind(render(_ci("tls-metrics")), "ServiceMonitor")


def test_plaintext_probes_use_the_separate_health_port() -> None:
    # The health server has its own few threads: callers holding every worker of the
    # main port (a job store outage makes each call wait) must not fail the probes, or
    # the kubelet restarts every pod during a database outage.
    manifests = render()
    (workload,) = by_kind(manifests, "StatefulSet")
    container = workload["spec"]["template"]["spec"]["containers"][0]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["grpc"]["port"] == 7071, probe
    assert container["readinessProbe"]["grpc"]["service"] == "sluice.v1.ExportService"
    assert {"name": "health", "containerPort": 7071, "protocol": "TCP"} in container["ports"]
    config = _config(manifests)
    assert config["health_address"] == "0.0.0.0:7071"
    assert config["insecure"] is True


def test_irsa_service_account_annotations() -> None:
    manifests = render(_ci("irsa"))
    (account,) = by_kind(manifests, "ServiceAccount")
    assert account["metadata"]["name"] == "sluice-exporter"
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith(
        "arn:aws:iam"
    )
    (workload,) = by_kind(manifests, "StatefulSet")
    pod = workload["spec"]["template"]
    assert pod["spec"]["serviceAccountName"] == "sluice-exporter"
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["state"]["persistentVolumeClaim"]["claimName"] == "sluice-state"
    assert "volumeClaimTemplates" not in workload["spec"]


def test_defaults_are_hardened() -> None:
    (workload,) = by_kind(render(), "StatefulSet")
    pod = workload["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert pod["terminationGracePeriodSeconds"] > _config(render())["shutdown_grace_seconds"]


def test_the_service_account_token_is_mounted_only_for_a_workload_identity() -> None:
    # The daemon never calls the Kubernetes API: a token in every pod only helps an
    # intruder; IRSA and workload identity read it, so it is mounted for them.
    (plain,) = by_kind(render(), "StatefulSet")
    assert plain["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    (irsa,) = by_kind(render(_ci("irsa")), "StatefulSet")
    assert irsa["spec"]["template"]["spec"]["automountServiceAccountToken"] is True
    forced = render({"serviceAccount": {"automountServiceAccountToken": True}})
    (workload,) = by_kind(forced, "StatefulSet")
    assert workload["spec"]["template"]["spec"]["automountServiceAccountToken"] is True


def test_several_replicas_get_a_disruption_budget_by_default() -> None:
    postgres = {
        "jobStore": {"url": "postgresql://s@db:5432/s"},
        "config": {"content_digest_key": "env:KEY", "allowed_roots": ["/exports"]},
    }
    assert not by_kind(render(), "PodDisruptionBudget")  # one pod: nothing to keep up
    (budget,) = by_kind(render({**postgres, "replicaCount": 2}), "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    assert by_kind(render({**postgres, "autoscaling": {"enabled": True}}), "PodDisruptionBudget")
    # Autoscaled down to one pod, a budget of one would block every node drain.
    one = {**postgres, "replicaCount": 3, "autoscaling": {"enabled": True, "minReplicas": 1}}
    assert not by_kind(render(one), "PodDisruptionBudget")
    off = {**postgres, "replicaCount": 2, "podDisruptionBudget": {"enabled": False}}
    assert not by_kind(render(off), "PodDisruptionBudget")


def test_a_config_change_rolls_the_pods() -> None:
    def checksum(values: dict[str, Any]) -> str:
        (workload,) = by_kind(render(values), "StatefulSet")
        return str(workload["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert checksum({}) != checksum({"config": {"max_concurrent_exports": 5}})


# -- refusals -----------------------------------------------------------------------------


def test_schema_rejects_a_misspelled_key() -> None:
    with pytest.raises(helm.HelmError) as refused:
        render({"persistance": {"size": "1Gi"}})
    assert "persistance" in str(refused.value)
    with pytest.raises(helm.HelmError) as nested:
        render({"metrics": {"serviceMonitor": {"enabeld": True}}})
    assert "enabeld" in str(nested.value)


def test_schema_rejects_a_wrong_type() -> None:
    with pytest.raises(helm.HelmError) as refused:
        render({"replicaCount": "three"})
    assert "replicaCount" in str(refused.value)


def test_sqlite_with_three_replicas_is_refused() -> None:
    with pytest.raises(helm.HelmError) as refused:
        render({"replicaCount": 3})
    message = str(refused.value)
    assert "replicaCount=3 needs the PostgreSQL job store: set jobStore.url" in message, message


@pytest.mark.parametrize(
    ("config", "setting"),
    [
        ({"manifest_signing_key": "plainsecret"}, "config.manifest_signing_key"),
        (
            {"manifest_verification_keys": ["file:/etc/k.pub.pem", "plainsecret"]},
            "config.manifest_verification_keys[1]",
        ),
        # Pasted after the scheme: no variable is named so, no pod path is relative.
        ({"manifest_signing_key": "env:hunter2+Zm9v/PASTED=="}, "config.manifest_signing_key"),
        ({"content_digest_key": "file:hunter2+Zm9v/PASTED=="}, "config.content_digest_key"),
        ({"content_digest_key": "rawfile:hunter2PASTED"}, "config.content_digest_key"),
        ({"content_digest_key": "plainsecret"}, "config.content_digest_key"),
        ({"webhook_secret_ref": "plainsecret"}, "config.webhook_secret_ref"),
        ({"secrets": {"zip": "plainsecret"}}, "config.secrets.zip"),
        ({"hash_keys": {"default": "plainsecret"}}, "config.hash_keys.default"),
        (
            {"notifications": {"ops": {"url": "https://h", "secret_ref": "plainsecret"}}},
            "config.notifications.ops.secret_ref",
        ),
        ({"smtp": {"host": "m", "password_ref": "plainsecret"}}, "config.smtp.password_ref"),
        (
            {"auth": {"principals": [{"name": "a", "token_ref": "plainsecret"}]}},
            "config.auth.principals[0].token_ref",
        ),
        ({"job_store_password_ref": "plainsecret"}, "config.job_store_password_ref"),
        *(
            (
                {"storage_profiles": {"main": {"kind": "s3", field: "plainsecret"}}},
                f"config.storage_profiles.main.{field}",
            )
            for field in ("access_key_id_ref", "secret_access_key_ref", "session_token_ref")
        ),
        *(
            (
                {"storage_profiles": {"blob": {"kind": "azure", field: "plainsecret"}}},
                f"config.storage_profiles.blob.{field}",
            )
            for field in ("connection_string_ref", "account_key_ref", "sas_token_ref")
        ),
        (
            {"source_profiles": {"db": {"kind": "postgresql", "password_ref": "plainsecret"}}},
            "config.source_profiles.db.password_ref",
        ),
    ],
)
def test_a_secret_given_by_value_is_refused_naming_the_setting(
    config: dict[str, Any], setting: str
) -> None:
    with pytest.raises(helm.HelmError) as refused:
        render({"config": config})
    message = str(refused.value)
    assert f"{setting} must be a secret reference" in message, message
    assert "plainsecret" not in message and "PASTED" not in message
    # References are what the chart expects (rawfile: too).
    render({"config": {"manifest_signing_key": "file:/etc/sluice/keys/signing.pem"}})
    render({"config": {"content_digest_key": "rawfile:/etc/sluice/keys/content-digest.key"}})


def test_verification_keys_render_into_the_config() -> None:
    """Older signing keys (by reference to their public keys) reach sluice.toml as a list."""
    keys = ["file:/etc/sluice/keys/old.pub.pem", "env:SLUICE_OLDER_KEY"]
    config = {"manifest_signing_key": "file:/etc/sluice/keys/signing.pem"}
    rendered = render({"config": {**config, "manifest_verification_keys": keys}})
    assert _config(rendered)["manifest_verification_keys"] == keys


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"autoscaling": {"enabled": True}}, "autoscaling.enabled needs the PostgreSQL"),
        ({"tls": {"enabled": True}}, "tls.enabled needs tls.existingSecret"),
        (
            {"jobStore": {"url": "postgresql://s@db:5432/s"}, "replicaCount": 2},
            "config.content_digest_key",
        ),
        (
            {"jobStore": {"url": "postgresql://s@db:5432/s"}, "replicaCount": 1},
            "config.content_digest_key",
        ),
        ({"terminationGracePeriodSeconds": 10}, "must exceed config.shutdown_grace_seconds"),
        ({"config": {"address": "0.0.0.0:1"}}, "config.address is managed by the chart"),
    ],
)
def test_shapes_that_cannot_work_are_refused(values: dict[str, Any], words: str) -> None:
    with pytest.raises(helm.HelmError) as refused:
        render(values)
    assert words in str(refused.value)


#: A PostgreSQL job store needs a shared content digest key and export roots outside the
#: pod's own emptyDirs (the chart refuses it without).
_DIGEST_KEY = {"content_digest_key": "env:SLUICE_DIGEST_KEY", "allowed_roots": ["/exports"]}


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://sluice:CNRYCHARTPW@db:5432/sluice",
        "postgresql://sluice@db:5432/sluice?password=CNRYCHARTPW",
        "postgresql://sluice@db:5432/sluice?sslpassword=CNRYCHARTPW",
        "postgresql://sluice@x:CNRYCHARTPW@db:5432/sluice",
        "postgres://sluice@db/sluice#CNRYCHARTPW",
        "mysql://sluice:CNRYCHARTPW@db/sluice",
        "sluice:CNRYCHARTPW@db:5432/sluice",
    ],
)
def test_a_job_store_url_holding_a_password_is_refused(url: str) -> None:
    """Passwords come from jobStore.existingSecret, never the URL (rendered into a
    ConfigMap): user:password@, a second @ and any query are refused, and so is any
    other scheme, in a message that does not quote the URL (helm's schema error would)."""
    with pytest.raises(helm.HelmError) as refused:
        render({"jobStore": {"url": url}, "config": _DIGEST_KEY})
    assert "jobStore.url must be postgresql://USER@HOST:PORT/DB" in str(refused.value)
    assert "CNRYCHARTPW" not in str(refused.value)


def test_a_job_store_url_without_a_password_renders() -> None:
    values = {"jobStore": {"url": "postgres://sluice@db.ns.svc:5432/sluice"}, "config": _DIGEST_KEY}
    config = _config(render(values))
    assert config["job_store"] == "postgres://sluice@db.ns.svc:5432/sluice"


# -- README -------------------------------------------------------------------------------


def _leaf_keys(values: dict[str, Any], prefix: str = "") -> set[str]:
    keys = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        if (
            isinstance(value, dict)
            and value
            and key not in {"config", "resources"}
            and not (
                path.endswith(
                    ("annotations", "labels", "Labels", "Context", "nodeSelector", "affinity")
                )
            )
        ):
            keys |= _leaf_keys(value, path + ".")
        else:
            keys.add(path)
    return keys


def test_readme_lists_every_value_and_no_other() -> None:
    documented = set(re.findall(r"^\| `([\w.]+)` \|", (CHART / "README.md").read_text(), re.M))
    assert documented == _leaf_keys(load_values(CHART / "values.yaml"))


def _config(manifests: dict[str, str]) -> dict[str, Any]:
    (config_map,) = [c for c in by_kind(manifests, "ConfigMap") if "sluice.toml" in c["data"]]
    return tomllib.loads(config_map["data"]["sluice.toml"])


# -- operator shapes that rendered but lost data or exposed the daemon ---------------------

#: The PostgreSQL shape: a shared content key, export roots outside the pod's emptyDirs.
_POSTGRES = {
    "jobStore": {"url": "postgresql://sluice@db:5432/sluice"},
    "replicaCount": 2,
    "config": {"content_digest_key": "env:K", "allowed_roots": ["/exports"]},
}
#: ... as an operator sets it up: those roots on a volume every replica mounts (a
#: ReadWriteMany claim).
_SHARED_EXPORTS = {
    **_POSTGRES,
    "extraVolumes": [{"name": "exports", "persistentVolumeClaim": {"claimName": "sluice-rwx"}}],
    "extraVolumeMounts": [{"name": "exports", "mountPath": "/exports"}],
}


def _valid(manifests: dict[str, str]) -> dict[str, str]:
    for document in documents(manifests):
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(document, version, strict=True)
    return manifests


def _refused(values: dict[str, Any]) -> str:
    with pytest.raises(helm.HelmError) as refused:
        render(values)
    return str(refused.value)


def _with(values: dict[str, Any], **changes: Any) -> dict[str, Any]:
    merged = {**values}
    for key, value in changes.items():
        merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
    return merged


@pytest.mark.parametrize(
    "roots",
    [None, [], ["/var/lib/sluice/exports"], ["/exports", "/tmp/exports"], "/var/lib/sluice"],
)
def test_the_postgres_shape_without_shared_export_roots_is_refused(
    roots: list[str] | str | None,
) -> None:
    # Each pod's state folder (and /tmp) is its own emptyDir: an export handed over to
    # another replica would SUCCEED without the chunks the first pod wrote there.
    config = {"content_digest_key": "env:K"} | ({} if roots is None else {"allowed_roots": roots})
    message = _refused({**_POSTGRES, "config": config})
    assert "the PostgreSQL job store needs config.allowed_roots" in message, message
    assert "every replica shares" in message, message


def test_the_postgres_shape_with_export_roots_on_a_shared_volume_renders() -> None:
    manifests = _valid(render(_SHARED_EXPORTS))
    (workload,) = by_kind(manifests, "Deployment")
    pod = workload["spec"]["template"]["spec"]
    assert {"name": "exports", "persistentVolumeClaim": {"claimName": "sluice-rwx"}} in pod[
        "volumes"
    ]
    assert {"name": "exports", "mountPath": "/exports"} in pod["containers"][0]["volumeMounts"]
    assert _config(manifests)["allowed_roots"] == ["/exports"]


@pytest.mark.parametrize("service_type", ["LoadBalancer", "NodePort"])
def test_plaintext_without_principals_on_an_external_service_is_refused(
    service_type: str,
) -> None:
    message = _refused({"service": {"type": service_type}})
    assert f"service.type={service_type} with tls.enabled=false and no" in message, message
    assert "config.insecure: true" in message, message
    # Said explicitly, or with callers named, or TLS, or inside the cluster: rendered.
    explicit = _valid(render({"service": {"type": service_type}, "config": {"insecure": True}}))
    assert _config(explicit)["insecure"] is True
    principal = {"name": "ops", "token_ref": "env:OPS_TOKEN", "scopes": ["admin"]}
    render({"service": {"type": service_type}, "config": {"auth": {"principals": [principal]}}})
    tls = {"enabled": True, "existingSecret": "t"}
    named = {"auth": {"principals": [principal]}}
    render({"service": {"type": service_type}, "tls": tls, "config": named})
    assert _config(render({"service": {"type": "ClusterIP"}}))["insecure"] is True


@pytest.mark.parametrize("service_type", ["LoadBalancer", "NodePort", "ClusterIP"])
@pytest.mark.parametrize("value", [False, "true", "no"])
def test_config_insecure_other_than_true_without_tls_is_refused(
    service_type: str, value: object
) -> None:
    # Without TLS the chart renders insecure = true whatever config.insecure says: a
    # false (or a string) passed the external-Service check and still served plaintext.
    message = _refused({"service": {"type": service_type}, "config": {"insecure": value}})
    assert f"config.insecure: {json.dumps(value)} with tls.enabled=false" in message, message
    assert "set config.insecure: true (a boolean) to accept plaintext" in message, message
    # With TLS it is the daemon's own setting, as given.
    tls = {"enabled": True, "existingSecret": "t"}
    if value is False:
        secure = render(
            {"service": {"type": service_type}, "tls": tls, "config": {"insecure": value}}
        )
        assert _config(secure)["insecure"] is False


def test_a_recreate_strategy_stops_every_pod_before_the_new_ones_start() -> None:
    # A job-store migration that old replicas cannot work with needs no overlap (README).
    recreate = _valid(render({**_POSTGRES, "strategy": {"type": "Recreate"}}))
    (workload,) = by_kind(recreate, "Deployment")
    assert workload["spec"]["strategy"] == {"type": "Recreate"}
    (default,) = by_kind(render(_POSTGRES), "Deployment")
    assert default["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    message = _refused({"strategy": {"type": "Recreate"}})
    assert "strategy applies to the PostgreSQL shape's Deployment" in message, message


def test_a_shutdown_grace_of_zero_is_zero() -> None:
    manifests = render(
        {"config": {"shutdown_grace_seconds": 0}, "terminationGracePeriodSeconds": 10}
    )
    assert _config(manifests)["shutdown_grace_seconds"] == 0
    message = _refused(
        {"config": {"shutdown_grace_seconds": 10}, "terminationGracePeriodSeconds": 10}
    )
    assert "terminationGracePeriodSeconds (10) must exceed" in message, message


def test_two_different_lease_lengths_are_refused() -> None:
    both = _with(_POSTGRES, jobStore={"leaseSeconds": 90})
    both["config"] = {**both["config"], "job_lease_seconds": 10}
    message = _refused(both)
    assert "jobStore.leaseSeconds (90) and config.job_lease_seconds (10) differ" in message
    both["config"]["job_lease_seconds"] = 90
    (workload,) = by_kind(render(both), "Deployment")
    env = {e["name"]: e for e in workload["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SLUICE_JOB_LEASE_SECONDS"]["value"] == "90"


def test_a_lease_longer_than_the_daemon_allows_is_refused() -> None:
    message = _refused(_with(_POSTGRES, jobStore={"leaseSeconds": 7200}))
    assert "leaseSeconds" in message, message
    render(_with(_POSTGRES, jobStore={"leaseSeconds": 3600}))


def test_a_long_fullname_keeps_the_headless_service_name_valid() -> None:
    manifests = _valid(render({"fullnameOverride": "a" * 63}))
    (workload,) = by_kind(manifests, "StatefulSet")
    headless = [s for s in by_kind(manifests, "Service") if s["spec"].get("clusterIP") == "None"]
    assert [s["metadata"]["name"] for s in headless] == [workload["spec"]["serviceName"]]
    assert len(workload["spec"]["serviceName"]) <= 63
    assert workload["spec"]["serviceName"].endswith("-headless")
