"""One JSON log line per request, no secrets in logs, and Prometheus metrics over every worker.

Run against hypercorn as `make run` starts it, reading what it writes to stderr.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import make_url

from tests.factories import log_in, register
from tests.support.processes import free_port, migrate, wait_until
from tests.support.served import ServedProcess

NOTE = "/api/v1/notes/5"


def request_lines(served: ServedProcess) -> list[dict]:
    lines = [json.loads(line) for line in served.logs().splitlines() if line.startswith("{")]
    return [line for line in lines if line["logger"] == "service.requests"]


def test_one_json_line_per_request_with_its_route_status_and_id(
    serve_process: Callable[..., ServedProcess],
) -> None:
    served = serve_process()
    with httpx.Client(base_url=served.url, timeout=15) as client:
        answers = [
            client.get("/healthz", headers={"X-Request-ID": "trace-abc.123"}),
            client.get("/healthz", headers={"X-Request-ID": "not sane; <script>"}),
            client.get(NOTE),
            client.get("/no/such/path"),
            client.post("/healthz"),
        ]
    assert answers[0].headers["X-Request-ID"] == "trace-abc.123"
    assert answers[1].headers["X-Request-ID"] != "not sane; <script>"

    ids = [answer.headers["X-Request-ID"] for answer in answers]

    def ours() -> list[dict]:
        return [line for line in request_lines(served) if line["request_id"] in ids]

    # Lines are written once the answer is sent; wait for the last one.
    wait_until(lambda: len(ours()) >= len(answers))
    lines = ours()
    assert [(line["method"], line["route"], line["status"]) for line in lines] == [
        ("GET", "/healthz", 200),
        ("GET", "/healthz", 200),
        ("GET", "/api/v1/notes/<int:note_id>", 401),
        ("GET", "<unmatched>", 404),
        ("POST", "<unmatched>", 405),
    ]
    assert [line["request_id"] for line in lines] == ids  # one line per request
    for line, answer in zip(lines[2:], answers[2:], strict=True):
        assert answer.json()["request_id"] == line["request_id"]  # and in every problem body
    assert all(isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0 for line in lines)
    assert all(line["level"] == "INFO" and line["message"] == "request" for line in lines)
    # hypercorn's own lines included, every line on stderr is one JSON object.
    for text in served.logs().splitlines():
        assert isinstance(json.loads(text), dict), text


def test_no_password_token_cookie_or_key_ever_reaches_the_logs(
    serve_process: Callable[..., ServedProcess], tmp_path: Path
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'secrets.db'}"
    migrate(database_url)
    served = serve_process(database_url, log_level="DEBUG")
    new_password = "brand new secret 42"
    with httpx.Client(base_url=served.url, timeout=15) as client:
        account = log_in(client, register(client))
        refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token}).json()
        cookie_login = client.post(
            "/api/v1/session", json={"username": account.username, "password": account.password}
        )
        client.cookies.clear()
        change = {"current_password": account.password, "new_password": new_password}
        bearer = {"Authorization": f"Bearer {refreshed['access_token']}"}
        assert client.put("/api/v1/users/me/password", json=change, headers=bearer).status_code == 204
        # A spent refresh token again, a wrong password, a forged token: the error paths log too.
        client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
        client.post("/api/v1/auth/login", json={"username": account.username, "password": "wrong " * 3})
        client.get("/api/v1/users/me", headers={"Authorization": "Bearer forged.token.value"})
        client.post("/api/v1/auth/logout", headers=bearer)
    with sqlite3.connect(make_url(database_url).database) as db:
        (password_hash,) = db.execute("SELECT password_hash FROM users").fetchone()

    secrets = {
        "password": account.password,
        "new password": new_password,
        "access token": account.access_token,
        "refresh token": account.refresh_token,
        "refreshed access token": refreshed["access_token"],
        "refreshed refresh token": refreshed["refresh_token"],
        "cookie session id": cookie_login.cookies["session"],
        "csrf token": cookie_login.json()["csrf_token"],
        "secret key": served.environ["SECRET_KEY"],
        "password hash": password_hash,
    }
    # Lines are written once the answer is sent: wait for the logout's, the last.
    wait_until(lambda: any(line["route"] == "/api/v1/auth/logout" for line in request_lines(served)))
    logs = served.logs()
    assert len(request_lines(served)) >= 9  # the logs are there, one line per request
    assert [name for name, secret in secrets.items() if secret in logs] == []


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a fresh scrape (a new connection: any worker may answer)."""
    response = httpx.get(f"{url}/metrics", timeout=15)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_count_every_request_across_two_workers(
    serve_process: Callable[..., ServedProcess],
) -> None:
    served = serve_process(workers=2)
    # Fresh connections, so the requests land on both workers.
    for _ in range(30):
        assert httpx.get(f"{served.url}/api/v1/notes", timeout=15).status_code == 401
    labels = (("method", "GET"), ("route", "/api/v1/notes"), ("status", "401"))
    # Whichever worker answers the scrape, it counts the requests both served.
    for _ in range(6):
        samples = scrape(served.url)
        assert samples[("http_requests_total", labels)] == 30
        assert samples[("http_request_duration_seconds_count", labels)] == 30
        bucket = tuple(sorted((*labels, ("le", "+Inf"))))
        assert samples[("http_request_duration_seconds_bucket", bucket)] == 30


def test_metrics_count_redis_and_database_failures(
    serve_process: Callable[..., ServedProcess], tmp_path: Path
) -> None:
    # Nothing listens on that port, and that file's directory does not exist.
    served = serve_process(
        f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'service.db'}",
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        redis_socket_timeout=0.5,
    )
    credentials = {"username": "nobody", "password": "long enough password"}
    with httpx.Client(base_url=served.url, timeout=15) as client:
        assert client.post("/api/v1/auth/register", json=credentials).status_code == 503
        assert client.post("/api/v1/auth/login", json=credentials).status_code == 503
        assert client.get("/readyz").status_code == 503
    samples = scrape(served.url)
    # register needs the database; login first checks its attempt budget in
    # Redis; /readyz finds both down.
    assert samples[("dependency_failures_total", (("dependency", "database"),))] == 2
    assert samples[("dependency_failures_total", (("dependency", "redis"),))] == 2
