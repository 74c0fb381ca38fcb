"""Imports between domains run one way: ``auth`` builds on ``users``, never the reverse.

The HTTP resources sit above every domain and may import any of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.processes import ROOT

SERVICE = ROOT / "service"
# What each domain must never import, outside its resources.py.
FORBIDDEN = {"users": ("service.auth",), "notes": ("service.auth",)}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("domain", sorted(FORBIDDEN))
def test_a_domain_does_not_import_the_domains_built_on_it(domain: str) -> None:
    modules = [p for p in (SERVICE / domain).glob("*.py") if p.name != "resources.py"]
    assert modules
    found = {
        f"{path.name} imports {name}"
        for path in modules
        for name in _imports(path)
        if name.startswith(FORBIDDEN[domain])
    }
    assert not found, sorted(found)
