"""The layers are a contract (ARCHITECTURE.md): one import root, `sluice`, and imports
that only point down. Read from the source with `ast`, so a forbidden import fails here
whether or not a test happens to execute it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: Installed package -> folder in the repository (pyproject's package-dir).
FOLDERS = {
    "sluice.server": REPO / "server",
    "sluice.client": REPO / "client",
    "sluice.sinks": REPO / "sinks",
    "sluice.format": REPO / "proto" / "sluice" / "format",
}


def _modules(package: str) -> Iterator[tuple[str, Path]]:
    folder = FOLDERS[package]
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(folder).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join((package, *parts)), path


def _imports(path: Path, module: str) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import statement, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield node.lineno, base
            for alias in node.names:  # "from pkg import module"
                yield node.lineno, f"{base}.{alias.name}"


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _violations(importers: str, forbidden: str, allowed: tuple[str, ...] = ()) -> list[str]:
    found = []
    packages = [p for p in FOLDERS if _under(importers, p) or _under(p, importers)]
    for package in packages:
        if not FOLDERS[package].exists():
            continue
        for module, path in _modules(package):
            if not _under(module, importers) or any(_under(module, a) for a in allowed):
                continue
            for line, name in _imports(path, module):
                if _under(name, forbidden):
                    found.append(f"{path.relative_to(REPO)}:{line} imports {name}")
    return sorted(set(found))


#: (importers, what they must not import, importers exempt from the rule, why).
RULES = [
    ("sluice.client", "sluice.server", (), "the client installs without the daemon"),
    (
        "sluice.client",
        "sluice.sinks",
        (),
        "the client installs without storage's dependencies (pydantic); the cloud URI "
        "rules both need are sluice.cloud_uris",
    ),
    ("sluice.sinks", "sluice.server", (), "storage sits below the daemon"),
    ("sluice.format", "sluice.server", (), "the export format sits below the daemon"),
    ("sluice.format", "sluice.client", (), "the export format sits below the client"),
    ("sluice.format", "sluice.sinks", (), "the export format sits below storage"),
    ("sluice.server.pipeline", "sluice.server.planning", (), "pipeline takes its own config"),
    ("sluice.server.pipeline", "sluice.server.jobs", (), "pipeline knows no job records"),
    ("sluice.server.pipeline", "grpc", (), "the pipeline is transport-free"),
    (
        "sluice.server",
        "sluice.server.rpc",
        ("sluice.server.rpc", "sluice.server.main"),
        "only the daemon's entry point builds the gRPC edge",
    ),
    ("sluice.sinks", "grpc", (), "storage is transport-free"),
    (
        "sluice.server",
        "prometheus_client",
        ("sluice.server.metrics",),
        "metrics live in server/metrics; the rest reports through server.telemetry",
    ),
    ("sluice.sinks", "prometheus_client", (), "sinks report through sinks.observer"),
]


@pytest.mark.parametrize(("importers", "forbidden", "allowed", "why"), RULES)
def test_layers_only_import_downwards(
    importers: str, forbidden: str, allowed: tuple[str, ...], why: str
) -> None:
    assert _violations(importers, forbidden, allowed) == [], why


def test_every_module_imports_through_the_one_root() -> None:
    """`server`, `client` and `sinks` are folders, not packages: importing them by those
    names works from a checkout and fails once installed."""
    found = []
    roots = ("server", "client", "sinks", "tests", "benchmarks")
    for root in roots:
        for path in sorted((REPO / root).rglob("*.py")):
            for line, name in _imports(path, f"{root}.{path.stem}"):
                if name.split(".")[0] in {"server", "client", "sinks"}:
                    found.append(f"{path.relative_to(REPO)}:{line} imports {name}")
    assert found == []


def test_root_modules_import_no_layer() -> None:
    """sluice.secrets (and the root package itself) sit below the daemon, the sinks and the
    client, which all import them."""
    found = []
    for path in sorted((REPO / "proto" / "sluice").glob("*.py")):
        module = "sluice" if path.stem == "__init__" else f"sluice.{path.stem}"
        for line, name in _imports(path, module):
            if any(_under(name, f"sluice.{layer}") for layer in ("server", "client", "sinks")):
                found.append(f"{path.relative_to(REPO)}:{line} imports {name}")
    assert found == []
