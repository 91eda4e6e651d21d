"""The planner reads fields through explicit tables, never by a name looked up at run
time (ARCHITECTURE: capabilities declared, never probed with getattr): a renamed field
is then a type error, not a silent miss."""

from __future__ import annotations

import ast
from pathlib import Path

PLANNING = Path(__file__).resolve().parents[2] / "server" / "planning"


def test_no_getattr_in_the_planner() -> None:
    found = []
    for module in sorted(PLANNING.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(), str(module))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"getattr", "hasattr"}
            ):
                found.append(f"{module.name}:{node.lineno}")
    assert found == []
