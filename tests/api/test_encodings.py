"""Only UTF-8 gets in: other encodings and unencodable text are a 400 problem, never a 500.

``json.loads`` on bytes would guess UTF-16 and UTF-32; a string that came
in that way could hold a lone surrogate, which bcrypt, the username digest,
PyJWT and the database drivers cannot encode.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest

from tests.factories import PASSWORD, Account, logged_in_user, random_username
from tests.support.live import LiveServer

JSON = {"Content-Type": "application/json"}
Body = Callable[[Account], dict[str, str]]

# What each endpoint takes, built for a logged-in account (whose name is taken
# for the login forms, so a body that got through would log in).
FORMS: dict[str, Body] = {
    "/api/v1/auth/register": lambda a: {"username": random_username(), "password": PASSWORD},
    "/api/v1/auth/login": lambda a: {"username": a.username, "password": a.password},
    "/api/v1/session": lambda a: {"username": a.username, "password": a.password},
    "/api/v1/auth/refresh": lambda a: {"refresh_token": a.refresh_token},
    "/api/v1/users/me/password": lambda a: {"current_password": a.password, "new_password": "a new password"},
}
ENCODINGS: dict[str, Callable[[str], bytes]] = {
    "utf-16": lambda text: text.encode("utf-16"),  # with its BOM
    "utf-16-le": lambda text: text.encode("utf-16-le"),
    "utf-16-be": lambda text: text.encode("utf-16-be"),
    "utf-32": lambda text: text.encode("utf-32"),
    "utf-32-le": lambda text: text.encode("utf-32-le"),
    "utf-32-be": lambda text: text.encode("utf-32-be"),
    "utf-8 with a BOM": lambda text: text.encode("utf-8-sig"),
    "latin-1": lambda text: text.replace('"}', 'é"}').encode("latin-1"),
}


def _send(client: httpx.Client, path: str, account: Account, content: bytes) -> httpx.Response:
    method = client.put if path.endswith("/password") else client.post
    return method(path, content=content, headers=JSON | account.auth)


def _assert_bad_request(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("path", FORMS)
def test_a_body_in_another_encoding_is_a_400(client: httpx.Client, path: str, encoding: str) -> None:
    account = logged_in_user(client)
    text = json.dumps(FORMS[path](account))
    response = _send(client, path, account, ENCODINGS[encoding](text))
    _assert_bad_request(response)
    # Nothing happened: the account still logs in with its password, its refresh token still works.
    assert client.post("/api/v1/auth/login", json=FORMS["/api/v1/auth/login"](account)).status_code == 200
    assert client.post("/api/v1/auth/refresh", json=FORMS["/api/v1/auth/refresh"](account)).status_code == 200


@pytest.mark.parametrize(
    "text",
    [
        '"\\ud800x"',  # an escaped high surrogate alone
        '"x\\udfff"',  # an escaped low surrogate alone
        '"\\udc00\\ud800"',  # both halves, in the wrong order
    ],
)
@pytest.mark.parametrize("path", FORMS)
def test_an_escaped_lone_surrogate_is_a_400(client: httpx.Client, path: str, text: str) -> None:
    account = logged_in_user(client)
    form = FORMS[path](account)
    for field in form:
        body = json.dumps(form | {field: "@@"}).replace('"@@"', text)
        _assert_bad_request(_send(client, path, account, body.encode()))


@pytest.mark.parametrize(
    "raw",
    [
        b"\xed\xa0\x80",  # a surrogate encoded as UTF-8 (CESU-8)
        b"\xc0\xaf",  # an overlong encoding of '/'
        b"\xff",  # never valid in UTF-8
        b"\xe2\x82",  # a sequence cut short
        b"\xf4\x90\x80\x80",  # beyond U+10FFFF
    ],
)
@pytest.mark.parametrize("path", FORMS)
def test_invalid_utf8_bytes_are_a_400(client: httpx.Client, path: str, raw: bytes) -> None:
    account = logged_in_user(client)
    form = FORMS[path](account)
    for field in form:
        body = json.dumps(form | {field: "@@"}).encode().replace(b"@@", raw)
        _assert_bad_request(_send(client, path, account, body))


def test_a_key_holding_a_lone_surrogate_is_a_400(client: httpx.Client) -> None:
    body = b'{"username": "someone", "password": "long enough", "\\ud800": 1}'
    _assert_bad_request(client.post("/api/v1/auth/register", content=body, headers=JSON))


def test_utf8_text_outside_ascii_still_works(client: httpx.Client) -> None:
    account = logged_in_user(client)
    response = _send(
        client,
        "/api/v1/users/me/password",
        account,
        json.dumps({"current_password": account.password, "new_password": "pässwörd 😀"}).encode(),
    )
    assert response.status_code == 204
    login = {"username": account.username, "password": "pässwörd 😀"}
    assert (
        client.post(
            "/api/v1/auth/login", content=json.dumps(login, ensure_ascii=False).encode(), headers=JSON
        ).status_code
        == 200
    )


def _raw_request(server: LiveServer, head: bytes) -> bytes:
    """Send one HTTP/1.1 request head as bytes; the status line of the answer."""
    url = urlsplit(server.url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0]


@pytest.mark.parametrize(
    "target",
    [
        b"/api/v1/notes?cursor=%ED%A0%80",  # a percent-encoded surrogate in the query
        b"/api/v1/notes?cursor=%FF%FE&limit=%C0%AF",
        b"/api/v1/notes?cursor=\xed\xa0\x80",  # raw bytes in the query
        b"/api/v1/notes/%ED%A0%80",  # in the path
        b"/api/v1/auth/sessions/%ED%A0%80",
        b"/api/v1/auth/sessions/\xff\xfe",
    ],
)
def test_undecodable_query_and_path_bytes_are_never_a_500(
    client: httpx.Client, server: LiveServer, target: bytes
) -> None:
    account = logged_in_user(client)
    host = urlsplit(server.url).netloc.encode()
    head = (
        b"GET "
        + target
        + b" HTTP/1.1\r\nHost: "
        + host
        + b"\r\nAuthorization: "
        + account.auth["Authorization"].encode()
        + b"\r\nConnection: close\r\n\r\n"
    )
    status = _raw_request(server, head)
    assert status.split(b" ")[1][:1] == b"4", status


@pytest.mark.parametrize(
    "name, value",
    [
        ("Authorization", b"Bearer \xed\xa0\x80"),
        ("Authorization", b"Bearer \xff\xfe.\xc3\xa9.\x80"),
        ("Authorization", b"\xff\xfe \xff"),
        ("Cookie", b"session=\xed\xa0\x80\xff"),
        ("Cookie", b"session=%ED%A0%80"),
        ("X-Request-ID", b"\xed\xa0\x80"),
        ("X-CSRF-Token", b"\xff\xfe"),
        ("User-Agent", b"\xed\xa0\x80\xff"),
    ],
)
def test_undecodable_header_bytes_are_never_a_500(client: httpx.Client, name: str, value: bytes) -> None:
    # Refused (or ignored) at the door: no header value reaches an encoder as a surrogate.
    for method, path in [
        ("GET", "/api/v1/users/me"),
        ("DELETE", "/api/v1/session"),
        ("POST", "/api/v1/auth/logout"),
    ]:
        response = client.request(method, path, headers={name: value})
        assert response.status_code < 500, (method, path, response.text)
    login = {"username": "nobody-here", "password": "whatever-password"}
    response = client.post("/api/v1/auth/login", json=login, headers={name: value})
    assert response.status_code == 401


def test_a_cookie_login_with_odd_csrf_headers_is_never_a_500(client: httpx.Client) -> None:
    account = logged_in_user(client)
    login = client.post("/api/v1/session", json={"username": account.username, "password": account.password})
    assert login.status_code == 200
    client.cookies.clear()  # sent by hand: it is Secure, the server plain http
    cookie = f"session={login.cookies['session']}".encode()
    for value in [b"\xed\xa0\x80", b"\xff\xfe", "é".encode("latin-1")]:
        headers = {"Cookie": cookie, "X-CSRF-Token": value}
        response = client.post("/api/v1/notes", json={"title": "x"}, headers=headers)
        assert response.status_code == 403
    headers = {"Cookie": cookie, "X-CSRF-Token": login.json()["csrf_token"].encode()}
    assert client.post("/api/v1/notes", json={"title": "x"}, headers=headers).status_code == 201


@pytest.mark.parametrize("agent", [b"\xed\xa0\x80\xff", b"\xc3\xa9 caf\xe9", b"\x80" * 300])
def test_a_login_with_an_odd_user_agent_is_listed_as_sent(client: httpx.Client, agent: bytes) -> None:
    # Header bytes arrive as Latin-1 text: always encodable, so stored and shown as they came.
    account = logged_in_user(client)
    body = {"username": account.username, "password": account.password}
    assert client.post("/api/v1/auth/login", json=body, headers={"User-Agent": agent}).status_code == 200
    listed = client.get("/api/v1/auth/sessions", headers=account.auth)
    assert listed.status_code == 200
    assert agent.decode("latin-1")[:256] in {s["user_agent"] for s in listed.json()}
