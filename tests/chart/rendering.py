"""Rendering the chart offline with helm-python-sdk (Helm's own Go engine through its C
library; no helm binary, no cluster), as `helm template` would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml
from helm_python import _native

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "sluice"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
RELEASE = "sluice"
NAMESPACE = "exports"
#: The API groups a cluster with the Prometheus operator serves (`helm template
#: --api-versions`), so the ServiceMonitor renders where it would.
WITH_PROMETHEUS_OPERATOR = ["monitoring.coreos.com/v1", "monitoring.coreos.com/v1/ServiceMonitor"]


def load_values(path: Path) -> dict[str, Any]:
    values = yaml.safe_load(path.read_text())
    assert isinstance(values, dict)
    return values


def render(
    values: dict[str, Any] | None = None,
    *,
    api_versions: list[str] | None = None,
    kube_version: str | None = None,
) -> dict[str, str]:
    """Template path -> rendered text. HelmRenderError on a template `fail`; the values
    are checked against values.schema.json first, as helm install/template do."""
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(values or {})
        options: dict[str, Any] = {"name": RELEASE, "namespace": NAMESPACE, "is_install": True}
        if api_versions:
            options["api_versions"] = api_versions
        if kube_version:
            options["kube_version"] = kube_version
        # Chart.render does not take api_versions/kube_version (helm template's
        # --api-versions/--kube-version); the library's render call does.
        rendered = _native.call_string(
            "helm_render", chart._raw(), json.dumps(values or {}), json.dumps(options)
        )
    manifests: dict[str, str] = json.loads(rendered)
    return manifests


def documents(manifests: dict[str, str]) -> list[dict[str, Any]]:
    """Every Kubernetes object rendered (NOTES.txt left out), in template order."""
    found = []
    for path in sorted(manifests):
        if path.endswith("NOTES.txt"):
            continue
        for document in yaml.safe_load_all(manifests[path]):
            if document:
                found.append(document)
    return found


def as_text(manifests: dict[str, str]) -> str:
    """One stable text of a render, for the golden files."""
    parts = []
    for path in sorted(manifests):
        body = manifests[path].strip()
        if body:
            parts.append(f"# Source: {path}\n{body}\n")
    return "---\n".join(parts)


def by_kind(manifests: dict[str, str], kind: str) -> list[dict[str, Any]]:
    return [d for d in documents(manifests) if d.get("kind") == kind]
