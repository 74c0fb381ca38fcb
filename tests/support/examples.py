"""The docs' example programs, imported from docs/examples/ so tests run the code the docs show."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from tests.support.processes import ROOT


def example_verifier() -> ModuleType:
    """docs/examples/verify_token.py: a resource server's offline check of our tokens with the JWKS."""
    spec = importlib.util.spec_from_file_location("verify_token", ROOT / "docs/examples/verify_token.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
