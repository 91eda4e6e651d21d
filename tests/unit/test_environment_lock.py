"""The running venv is the one constraints.txt describes: every distribution installed in
it is pinned there, at the version installed. `make`, CI and the image install with
`-c constraints.txt`, and `make lock` writes it (uv pip compile over the dev and bench
extras), so a failure here means the lock and the venv have parted: after a change to
pyproject.toml run `make lock`; a venv changed by hand is mended by `make clean` then `make`.
"""

from __future__ import annotations

import sysconfig
from importlib.metadata import distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from tests.daemon import REPO

LOCK = REPO / "constraints.txt"
#: The PostgreSQL peer's venv (`make bench-postgres`): the same pins but an older DuckDB.
PG_LOCK = REPO / "constraints-pg-duckdb.txt"
#: Never pinned: this repository itself, and the installer `make` upgrades before installing.
UNPINNED = {"sluice", "pip"}
#: Packaging tools a venv may hold that the lock pins only when a dependency needs them.
PINNED_WHEN_NEEDED = {"setuptools", "wheel"}


def _pins(path: Path) -> dict[NormalizedName, Version]:
    pins: dict[NormalizedName, Version] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        assert [s.operator for s in specifiers] == ["=="], f"{path.name}: not one exact pin: {raw}"
        name = canonicalize_name(requirement.name)
        assert name not in pins, f"{path.name}: {name} pinned twice"
        pins[name] = Version(specifiers[0].version)
    return pins


def _installed() -> list[tuple[NormalizedName, Version]]:
    """Every distribution in this venv's site-packages (not the source tree on sys.path)."""
    paths = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    return sorted(
        (canonicalize_name(d.metadata["Name"]), Version(d.version))
        for d in distributions(path=paths)
    )


#: What every drift line ends with.
_REMEDY = (
    "(run `make lock` after changing pyproject.toml; `make clean` then `make` for a venv"
    " changed by hand)"
)


def _drift(pins: dict[NormalizedName, Version]) -> list[str]:
    """One line per installed distribution the lock does not pin at its version."""
    lines = []
    for name, version in _installed():
        if name in UNPINNED or (name in PINNED_WHEN_NEEDED and name not in pins):
            continue
        pinned = pins.get(name)
        if pinned != version:
            lines.append(
                f"{name}: the venv has {version}, {LOCK.name} pins {pinned or 'nothing'} {_REMEDY}"
            )
    return lines


def test_every_installed_distribution_is_pinned_at_its_installed_version() -> None:
    pins = _pins(LOCK)
    installed = dict(_installed())
    # Not vacuous: this is the venv `make` builds, with the daemon's and the tools' packages.
    assert {"polars", "grpcio", "ruff", "mypy", "uv"} <= installed.keys()
    drift = _drift(pins)
    assert not drift, "\n".join(drift)


def test_a_version_apart_and_a_package_missing_are_named_with_make_lock() -> None:
    pins = _pins(LOCK)
    installed = dict(_installed())
    before = set(_drift(pins))
    pins["ruff"] = Version("0.0.1")
    del pins["polars"]
    assert set(_drift(pins)) - before == {
        f"polars: the venv has {installed['polars']}, constraints.txt pins nothing {_REMEDY}",
        f"ruff: the venv has {installed['ruff']}, constraints.txt pins 0.0.1 {_REMEDY}",
    }


def test_the_postgresql_peer_lock_shares_every_pin_but_duckdbs() -> None:
    pins, peer = _pins(LOCK), _pins(PG_LOCK)
    assert peer["duckdb"] != pins["duckdb"]
    assert "duckdb-ext-postgres" in peer
    differing = {
        name: (version, pins.get(name))
        for name, version in peer.items()
        if name not in {"duckdb", "duckdb-ext-postgres"} and pins.get(name) != version
    }
    assert not differing, f"{differing}: run `make lock`"
