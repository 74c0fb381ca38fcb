"""docs/api.md, the contract, and the live /openapi.json name the same operations.

Every method and path in the page's tables must be in the document a running
server serves, and every ``/api/v1`` operation of the document must be in a
table of the page. Rows under a section marked **Planned** (not built yet) are
skipped, each as its own case, so the list of what is still to build stays
visible in the test report.
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support.processes import ROOT

CONTRACT = ROOT / "docs" / "api.md"
PLANNED = "> **Planned: not built yet.**"
# A method and path in backticks at the start of a table cell, e.g. `GET /api/v1/notes?limit=20`.
OPERATION = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`?\s]*)[^`]*`")


def _template(path: str) -> str:
    """A path with every parameter written as ``{}``, so `{id}` and `{note_id}` compare equal."""
    return re.sub(r"{[^}]+}", "{}", path)


def contract_operations(text: str) -> list[tuple[str, str, bool]]:
    """(method, path template, planned) for every operation named in the first cell of a table row."""
    found: list[tuple[str, str, bool]] = []
    planned = False
    for line in text.splitlines():
        if line.startswith("## "):
            planned = False
        elif line.startswith(PLANNED):
            planned = True
        elif line.startswith("| "):
            first_cell = line.split("|")[1]
            for method, path in OPERATION.findall(first_cell):
                key = (method.lower(), _template(path))
                # A planned section may change an operation already built (login with a
                # second factor): the built row is the one that counts.
                if all((m, p) != key for m, p, _ in found):
                    found.append((*key, planned))
    return found


OPERATIONS = contract_operations(CONTRACT.read_text())


def _documented(client: httpx.Client) -> set[tuple[str, str]]:
    document = client.get("/openapi.json").json()
    return {(method, _template(path)) for path, item in document["paths"].items() for method in item}


def test_the_contract_names_the_operations_it_should() -> None:
    """The parser finds the tables: a sample of built and planned rows, and no duplicates."""
    built = {(m, p) for m, p, planned in OPERATIONS if not planned}
    planned = {(m, p) for m, p, planned in OPERATIONS if planned}
    assert {("post", "/api/v1/auth/register"), ("get", "/api/v1/notes"), ("get", "/healthz")} <= built
    assert ("delete", "/api/v1/notes/{}") in built
    assert ("get", "/.well-known/jwks.json") in planned
    assert ("delete", "/api/v1/users/me") in built
    assert len(built) >= 20


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param(m, p, marks=pytest.mark.skip(reason="planned in docs/api.md, not built yet"))
        if planned
        else pytest.param(m, p)
        for m, p, planned in OPERATIONS
    ],
    ids=[f"{m.upper()} {p}" for m, p, _ in OPERATIONS],
)
def test_every_operation_of_the_contract_is_in_the_live_document(
    client: httpx.Client, method: str, path: str
) -> None:
    assert (method, path) in _documented(client), f"{method.upper()} {path} is in docs/api.md only"


def test_every_api_operation_of_the_live_document_is_in_the_contract(client: httpx.Client) -> None:
    in_contract = {(m, p) for m, p, _ in OPERATIONS}
    missing = {(m, p) for m, p in _documented(client) if p.startswith("/api/v1")} - in_contract
    assert missing == set(), f"in /openapi.json but in no table of docs/api.md: {sorted(missing)}"
