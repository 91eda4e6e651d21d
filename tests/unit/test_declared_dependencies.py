"""Every third-party module the shipped code imports comes from a distribution its
install declares. A module that only arrives with the benchmark or development extras
(numpy came with pandas) works on a developer's machine and fails in CI, in the image and
for every user: read the imports with `ast` and map them to installed distributions."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())

#: Folder -> the dependency groups a user who runs that code has installed.
INSTALLS = {
    "server": ("server",),
    "sinks": ("server",),
    "client": ("read", "cloud"),
    "proto/sluice": ("server", "read"),
}


def _name(requirement: str) -> str:
    """The canonical project name of a requirement string (PEP 503)."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _declared(extras: tuple[str, ...]) -> set[str]:
    project = PYPROJECT["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    return {_name(r) for r in requirements}


def _third_party_imports(folder: Path) -> dict[str, list[str]]:
    """Top-level module -> where it is imported ("path:line")."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top == "sluice":
                    continue
                where = f"{folder.name}/{path.relative_to(folder)}:{node.lineno}"
                found.setdefault(top, []).append(where)
    return found


@pytest.mark.parametrize("folder", sorted(INSTALLS))
def test_imports_come_from_declared_distributions(folder: str) -> None:
    declared = _declared(INSTALLS[folder])
    providers = packages_distributions()
    undeclared = []
    for module, places in sorted(_third_party_imports(REPO / folder).items()):
        dists = {_name(d) for d in providers.get(module, [])}
        if not dists & declared:
            shown = ", ".join(sorted(dists)) or "no installed distribution"
            undeclared.append(f"{module} ({shown}) imported at {places[0]}")
    assert undeclared == [], f"declare these in pyproject.toml {INSTALLS[folder]}"


def test_the_probe_sees_an_undeclared_module(tmp_path: Path) -> None:
    """The check can fail: a module importing numpy is reported."""
    (tmp_path / "m.py").write_text("import numpy as np\nfrom polars import col\n")
    assert sorted(_third_party_imports(tmp_path)) == ["numpy", "polars"]
    assert "numpy" not in _declared(INSTALLS["server"])
