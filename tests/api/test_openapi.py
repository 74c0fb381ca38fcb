"""The OpenAPI document derived from the declarations: valid 3.1, complete, and every error in it real."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from tests.factories import PASSWORD, logged_in_user
from tests.support.live import LiveServer

PROBLEM_JSON = "application/problem+json"
# Reason phrases as RFC 9110 names them (Python's HTTPStatus still has older ones for these).
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    503: "Service Unavailable",
}
UNSAFE = {"post", "put", "patch", "delete"}


@pytest.fixture
def document(client: httpx.Client) -> dict[str, Any]:
    return client.get("/openapi.json").json()


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def _resolved(document: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    if "$ref" not in response:
        return response
    return document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]


def _url(path: str) -> str:
    # Any well-formed value: the errors provoked here come before the resource is looked up.
    return re.sub(r"{(?:note|token)_id}", "1", re.sub(r"{session_id}", "x", path))


def test_the_document_is_valid_openapi_3_1(client: httpx.Client) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    document = response.json()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_route_the_app_serves_is_documented_and_nothing_else(
    document: dict[str, Any], server: LiveServer
) -> None:
    served = set()
    for rule in server.asgi.flask.url_map.iter_rules():
        if rule.endpoint in ("static", "docs_asset"):  # the docs page's files are not operations
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        served |= {(m.lower(), path) for m in rule.methods or () if m not in ("HEAD", "OPTIONS")}
    documented = {(method, path) for method, path, _ in _operations(document)}
    assert served == documented
    assert len(documented) >= 21


def test_every_operation_has_an_id_a_summary_and_a_success(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in _operations(document)]
    assert len(ids) == len(set(ids))
    for method, path, operation in _operations(document):
        assert operation["summary"], f"{method} {path}"
        assert any(int(status) < 300 for status in operation["responses"]), f"{method} {path}"


def test_each_error_response_shows_its_own_status_and_title(document: dict[str, Any]) -> None:
    seen = set()
    for method, path, operation in _operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            response = _resolved(document, response)
            assert list(response["content"]) == [PROBLEM_JSON], f"{method} {path} {status}"
            media = response["content"][PROBLEM_JSON]
            assert media["schema"] == {"$ref": "#/components/schemas/Problem"}
            example = media["example"]
            where = f"{method} {path} {status}: {example}"
            assert example["status"] == int(status), where
            assert example["title"] == TITLES[int(status)], where
            assert example["detail"] and example["type"] == "about:blank", where
            seen.add((int(status), example["detail"]))
    # Details fit their status: a note's 404 is not the generic URL one.
    assert (404, "There is no note 12.") in seen
    assert (401, "Invalid username or password.") in seen


def test_both_security_schemes_are_declared(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert (schemes["cookieSession"]["in"], schemes["cookieSession"]["name"]) == ("cookie", "session")
    assert (schemes["csrfToken"]["in"], schemes["csrfToken"]["name"]) == ("header", "X-CSRF-Token")
    create = document["paths"]["/api/v1/notes"]["post"]
    assert create["security"] == [{"bearerAuth": []}, {"cookieSession": [], "csrfToken": []}]
    assert "security" not in document["paths"]["/api/v1/auth/login"]["post"]


def test_request_shapes_come_from_the_validating_models(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    title = schemas["NoteCreate"]["properties"]["title"]
    assert (title["minLength"], title["maxLength"]) == (1, 200)
    assert schemas["NoteCreate"]["properties"]["body"]["maxLength"] == 10_000
    assert schemas["UserCreate"]["properties"]["username"]["pattern"] == r"^[A-Za-z0-9_.-]+$"
    for name in ("Credentials", "UserCreate", "TokenPair", "RefreshRequest", "SessionPublic"):
        assert name in schemas
    for name in ("PasswordChange", "CsrfToken", "UserPublic", "NoteUpdate", "NotePublic", "NotePage"):
        assert name in schemas
    limit = next(p for p in document["paths"]["/api/v1/notes"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["in"] == "query" and limit["schema"]["type"] == "integer"


def test_documented_authentication_errors_are_what_the_server_answers(
    client: httpx.Client, document: dict[str, Any]
) -> None:
    """Without credentials every secured operation answers its documented 401; the others never do."""
    for method, path, operation in _operations(document):
        secured = "security" in operation
        # With no body, the logins and registration are refused before they act.
        response = client.request(method.upper(), _url(path))
        if secured:
            assert "401" in operation["responses"], f"{method} {path}"
            assert response.status_code == 401, f"{method} {path}: {response.status_code}"
            assert response.headers["Content-Type"] == PROBLEM_JSON
            assert response.headers["WWW-Authenticate"] == "Bearer"
        else:
            assert response.status_code != 401, f"{method} {path}"


def test_documented_body_errors_are_what_the_server_answers(
    client: httpx.Client, document: dict[str, Any]
) -> None:
    """Each operation with a body refuses a non-JSON, a malformed and a non-object body as documented."""
    account = logged_in_user(client)
    bodies = {
        415: ({"Content-Type": "text/plain"}, b"hello"),
        400: ({"Content-Type": "application/json"}, b"{"),
        422: ({"Content-Type": "application/json"}, b"[]"),
        413: ({"Content-Type": "application/json"}, b'"' + b"x" * (1024 * 1024 + 1) + b'"'),
    }
    form = "application/x-www-form-urlencoded"
    form_bodies = {
        415: ({"Content-Type": "application/json"}, b"{}"),
        400: ({"Content-Type": form}, b"token=%ff"),  # not UTF-8
        422: ({"Content-Type": form}, b"token_type_hint=access"),  # no token
        413: ({"Content-Type": form}, b"token=" + b"x" * (64 * 1024)),
    }
    checked = 0
    for method, path, operation in _operations(document):
        if "requestBody" not in operation:
            continue
        chosen = form_bodies if form in operation["requestBody"]["content"] else bodies
        for status, (headers, content) in chosen.items():
            assert str(status) in operation["responses"], f"{method} {path} {status}"
            response = client.request(
                method.upper(), _url(path), headers=headers | account.auth, content=content
            )
            assert response.status_code == status, f"{method} {path}: {response.status_code}"
            assert response.json()["title"] == TITLES[status]
            checked += 1
    assert checked >= 4 * 7


def test_documented_csrf_refusals_are_what_the_server_answers(
    client: httpx.Client, document: dict[str, Any]
) -> None:
    """A cookie session without its CSRF header gets 403 on every unsafe operation that documents it."""
    account = logged_in_user(client)
    login = client.post("/api/v1/session", json={"username": account.username, "password": PASSWORD})
    assert login.status_code == 200
    # Sent by hand: the cookie is Secure and the test server is plain http.
    cookie = {"Cookie": f"session={login.cookies['session']}"}
    client.cookies.clear()
    refused = 0
    for method, path, operation in _operations(document):
        cookie_ok = any("cookieSession" in option for option in operation.get("security", []))
        if method not in UNSAFE or not cookie_ok:
            continue
        assert "403" in operation["responses"], f"{method} {path}"
        response = client.request(method.upper(), _url(path), json={}, headers=cookie)
        assert response.status_code == 403, f"{method} {path}: {response.status_code}"
        refused += 1
    assert refused >= 7
    assert client.get("/api/v1/users/me", headers=cookie).status_code == 200, "the session is still live"


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


def test_links_name_real_operations(document: dict[str, Any]) -> None:
    operation_ids = {operation["operationId"] for _, _, operation in _operations(document)}
    links = [
        link
        for _, _, operation in _operations(document)
        for response in operation["responses"].values()
        for link in response.get("links", {}).values()
    ]
    assert len(links) >= 4
    assert {link["operationId"] for link in links} <= operation_ids
