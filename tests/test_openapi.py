"""The OpenAPI document: valid 3.1, and the same operations as the app serves."""

from __future__ import annotations

import re

import httpx
from openapi_spec_validator import validate

from tests.support.live import LiveServer

# Documented operations the app does not serve yet (none: keep it that way).
NOT_SERVED_YET: set[tuple[str, str]] = set()
# Served but deliberately not operations of the API: the docs page's static files.
NOT_DOCUMENTED = {("get", "/docs/assets/{}")}


def _served(server: LiveServer) -> set[tuple[str, str]]:
    app = server.asgi.flask
    operations = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:>]+:)?[^>]+>", "{}", rule.rule)
        operations |= {(m.lower(), path) for m in rule.methods or () if m not in ("HEAD", "OPTIONS")}
    return operations


def _documented(document: dict) -> set[tuple[str, str]]:
    return {
        (method, re.sub(r"{[^}]+}", "{}", path))
        for path, item in document["paths"].items()
        for method in item
    }


def test_the_document_is_valid_openapi_3_1(client: httpx.Client) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    document = response.json()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_served_operation_is_documented_and_the_reverse(
    client: httpx.Client, server: LiveServer
) -> None:
    documented = _documented(client.get("/openapi.json").json())
    served = _served(server)
    assert served - NOT_DOCUMENTED - documented == set(), "served but not in the document"
    assert documented - served <= NOT_SERVED_YET, "documented but not served"


def test_every_error_is_documented_as_problem_json(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    for name, response in document["components"]["responses"].items():
        assert list(response["content"]) == ["application/problem+json"], name
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert "$ref" in response, f"{method} {path} {status}"


def test_both_security_schemes_are_declared(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert (schemes["cookieSession"]["in"], schemes["cookieSession"]["name"]) == ("cookie", "session")
    assert (schemes["csrfToken"]["in"], schemes["csrfToken"]["name"]) == ("header", "X-CSRF-Token")
    create = document["paths"]["/api/v1/notes"]["post"]
    assert create["security"] == [{"bearerAuth": []}, {"cookieSession": [], "csrfToken": []}]
    assert "security" not in document["paths"]["/api/v1/auth/login"]["post"]


def test_request_shapes_come_from_the_validating_models(client: httpx.Client) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    title = schemas["NoteCreate"]["properties"]["title"]
    assert (title["minLength"], title["maxLength"]) == (1, 200)
    assert schemas["NoteCreate"]["properties"]["body"]["maxLength"] == 10_000
    assert schemas["UserCreate"]["properties"]["username"]["pattern"] == r"^[A-Za-z0-9_.-]+$"
    for name in ("Credentials", "UserCreate", "TokenPair", "RefreshRequest", "SessionPublic"):
        assert name in schemas
    for name in ("PasswordChange", "CsrfToken", "UserPublic", "NoteUpdate", "NotePublic", "NotePage"):
        assert name in schemas


def test_the_docs_page_and_its_assets_are_served_locally(client: httpx.Client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "/openapi.json" in page.text
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text), "the page must not load from the network"
    for asset in re.findall(r"(?:src|href)=\"(/docs/assets/[^\"]+)\"", page.text):
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 0
    missing = client.get("/docs/assets/../../../../etc/passwd")
    assert missing.status_code == 404
    assert missing.headers["Content-Type"] == "application/problem+json"


def test_links_name_real_operations(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    operation_ids = {op["operationId"] for item in document["paths"].values() for op in item.values()}
    links = [
        link
        for item in document["paths"].values()
        for op in item.values()
        for response in op["responses"].values()
        for link in response.get("links", {}).values()
    ]
    assert len(links) >= 4
    assert {link["operationId"] for link in links} <= operation_ids
