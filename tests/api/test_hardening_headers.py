"""Every response carries the hardening headers, whoever wrote it; the /docs page still works."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import logged_in_user
from tests.support.live import LiveServer

ME = "/api/v1/users/me"
NOTHING_ALLOWED = "default-src 'none'; frame-ancestors 'none'"


def assert_hardened(response: httpx.Response) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Request-ID"]
    assert len(response.headers.get_list("X-Request-ID")) == 1


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/metrics", 200),
        ("GET", "/openapi.json", 200),
        ("GET", "/api/v1/nothing-here", 404),  # a problem written by Flask
        ("DELETE", "/api/v1/auth/login", 405),
        ("GET", ME, 401),
        ("GET", "/" + "a" * 9000, 414),  # a refusal written before Flask
    ],
)
def test_every_response_is_hardened_and_never_cached(
    client: httpx.Client, method: str, path: str, status: int
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert_hardened(response)
    assert response.headers["Content-Security-Policy"] == NOTHING_ALLOWED
    assert response.headers["Cache-Control"] == "no-store"


def test_credentials_and_the_callers_data_are_never_stored(client: httpx.Client) -> None:
    account = logged_in_user(client)
    response = client.get(ME, headers=account.auth)
    assert response.status_code == 200
    assert_hardened(response)
    assert response.headers["Cache-Control"] == "no-store"


def test_the_docs_page_may_run_its_script_but_not_be_framed(client: httpx.Client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert_hardened(page)
    assert page.headers["Content-Security-Policy"] == "frame-ancestors 'none'"


def test_the_docs_assets_are_hardened_and_keep_their_own_caching(client: httpx.Client) -> None:
    asset = client.get("/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200
    assert_hardened(asset)
    assert asset.headers["Content-Type"].startswith("text/javascript")  # nosniff needs the right type
    assert asset.headers.get("Cache-Control") != "no-store"


def test_a_header_set_by_the_app_is_not_repeated(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as http:
        response = http.post("/api/v1/auth/login", json={"username": "nobody", "password": "wrong password"})
    assert response.status_code == 401
    for name in ("Cache-Control", "X-Content-Type-Options", "Content-Security-Policy"):
        assert len(response.headers.get_list(name)) == 1, name
