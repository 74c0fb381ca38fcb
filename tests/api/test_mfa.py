"""The second factor (TOTP), as a user with an authenticator (pyotp standing in) meets it over HTTP."""

from __future__ import annotations

import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import httpx
import pyotp
import pytest
from cryptography.fernet import Fernet

from tests.conftest import base_settings
from tests.factories import PASSWORD, assert_problem, log_in, logged_in_user
from tests.support.databases import Databases
from tests.support.live import LiveServer
from tests.support.processes import RedisServer
from tests.support.totp import (
    CONFIRM,
    LOGIN,
    LOGIN_MFA,
    SESSION,
    SESSION_MFA,
    TOTP,
    Authenticator,
    enrol,
    first_step,
    turn_on,
)

ME = "/api/v1/users/me"
QR = "/api/v1/auth/mfa/totp/qr"
SESSIONS = "/api/v1/auth/sessions"
EVENTS = "/api/v1/auth/events"
PASSWORD_CHANGE = "/api/v1/users/me/password"


@pytest.fixture(scope="module")
def server(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """This module's own server and Redis: its wrong codes and passwords count against
    127.0.0.1, and must not use up the login budget of the shared server's later tests."""
    store = RedisServer(tmp_path_factory.mktemp("mfa-redis"))
    database_url = databases.new()
    live = LiveServer(base_settings(database_url, store.url))
    yield live
    live.stop()
    store.stop()
    databases.release(database_url)


def second_step(client: httpx.Client, token: str, code: str, path: str = LOGIN_MFA) -> httpx.Response:
    return client.post(path, json={"mfa_token": token, "code": code})


def test_enrolment_gives_a_secret_and_an_otpauth_uri_naming_the_issuer_and_the_user(
    client: httpx.Client,
) -> None:
    account = logged_in_user(client)
    response = client.post(TOTP, json={"current_password": PASSWORD}, headers=account.auth)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"secret", "otpauth_uri"}
    uri = urllib.parse.urlparse(body["otpauth_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert urllib.parse.unquote(uri.path) == f"/service:{account.username}"
    query = urllib.parse.parse_qs(uri.query)
    assert query["secret"] == [body["secret"]] and query["issuer"] == ["service"]
    # Still pending: the login asks for no code yet.
    assert log_in(client, account).access_token


def test_enrolment_needs_the_right_password(client: httpx.Client) -> None:
    account = logged_in_user(client)
    response = client.post(TOTP, json={"current_password": "not it"}, headers=account.auth)
    assert_problem(response, 403)
    assert_problem(client.post(TOTP, json={"current_password": PASSWORD}), 401)


def test_the_pending_secret_has_a_qr_code_until_it_is_confirmed(client: httpx.Client) -> None:
    account = logged_in_user(client)
    assert_problem(client.get(QR, headers=account.auth), 404)
    app = enrol(client, account)
    response = client.get(QR, headers=account.auth)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in response.content and app.secret.encode() not in response.content
    client.post(CONFIRM, json={"code": app.code()}, headers=account.auth).raise_for_status()
    assert_problem(client.get(QR, headers=account.auth), 404)


def test_confirming_turns_it_on_with_ten_recovery_codes_and_the_secret_is_never_shown_again(
    client: httpx.Client,
) -> None:
    account = logged_in_user(client)
    app = enrol(client, account)
    response = client.post(CONFIRM, json={"code": app.code()}, headers=account.auth)
    assert response.status_code == 200
    codes = response.json()["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10
    assert app.secret not in response.text
    assert app.secret not in client.get(ME, headers=account.auth).text
    # On now: enrolling again is refused, and the login asks for a code.
    assert_problem(client.post(TOTP, json={"current_password": PASSWORD}, headers=account.auth), 409)
    assert_problem(client.post(CONFIRM, json={"code": app.code(1)}, headers=account.auth), 409)
    assert first_step(client, account)


def test_a_wrong_code_does_not_confirm(client: httpx.Client) -> None:
    account = logged_in_user(client)
    app = enrol(client, account)
    wrong = f"{(int(app.code()) + 1) % 1_000_000:06d}"
    assert_problem(client.post(CONFIRM, json={"code": wrong}, headers=account.auth), 400)
    assert log_in(client, account).access_token  # still off


def test_confirming_without_an_enrolment_is_400(client: httpx.Client) -> None:
    account = logged_in_user(client)
    assert_problem(client.post(CONFIRM, json={"code": "123456"}, headers=account.auth), 400)


def test_a_new_enrolment_replaces_the_pending_secret(client: httpx.Client) -> None:
    account = logged_in_user(client)
    old, new = enrol(client, account), enrol(client, account)
    assert old.secret != new.secret
    if old.code() != new.code():
        assert_problem(client.post(CONFIRM, json={"code": old.code()}, headers=account.auth), 400)
    assert client.post(CONFIRM, json={"code": new.code()}, headers=account.auth).status_code == 200


def test_one_step_of_drift_either_way_and_no_more(client: httpx.Client) -> None:
    late, early, far = logged_in_user(client), logged_in_user(client), logged_in_user(client)
    app = enrol(client, far)
    for steps in (-2, 2):
        assert_problem(client.post(CONFIRM, json={"code": app.code(steps)}, headers=far.auth), 400)
    app = enrol(client, late)
    assert client.post(CONFIRM, json={"code": app.code(-1)}, headers=late.auth).status_code == 200
    app = enrol(client, early)
    assert client.post(CONFIRM, json={"code": app.code(1)}, headers=early.auth).status_code == 200


def test_a_bearer_login_in_two_steps(client: httpx.Client) -> None:
    account = logged_in_user(client)
    app = turn_on(client, account)
    response = client.post(LOGIN, json={"username": account.username, "password": PASSWORD})
    assert response.status_code == 202
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["mfa_required"] is True and body["expires_in"] == 300
    assert set(body) == {"mfa_required", "mfa_token", "expires_in"}
    response = second_step(client, body["mfa_token"], app.code(1))  # the current step was spent confirming
    assert response.status_code == 200, response.text
    pair = response.json()
    assert client.get(ME, headers={"Authorization": f"Bearer {pair['access_token']}"}).status_code == 200


def test_a_cookie_login_in_two_steps(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        account = logged_in_user(client)
        app = turn_on(client, account)
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        response = browser.post(SESSION, json={"username": account.username, "password": PASSWORD})
        assert response.status_code == 202
        assert "set-cookie" not in response.headers
        assert not browser.cookies
        token = response.json()["mfa_token"]
        # A bearer login's second step does not take a cookie login's token.
        assert_problem(second_step(browser, token, app.code(1), LOGIN_MFA), 401)
        response = second_step(browser, token, app.code(1), SESSION_MFA)
        assert response.status_code == 200, response.text
        assert set(response.json()) == {"csrf_token"}
        cookie = {"Cookie": f"session={response.cookies['session']}"}  # Secure: sent by hand over http
        assert browser.get(ME, headers=cookie).json()["username"] == account.username


def test_no_login_session_exists_before_the_second_step(client: httpx.Client) -> None:
    account = logged_in_user(client)
    turn_on(client, account)
    for path in (LOGIN, SESSION):
        first_step(client, account, path)
    sessions = client.get(SESSIONS, headers=account.auth).json()
    assert len(sessions) == 1 and sessions[0]["current"]


def test_a_code_is_accepted_once(client: httpx.Client) -> None:
    account = logged_in_user(client)
    app = turn_on(client, account)
    spent = app.code()  # confirming took it
    assert_problem(second_step(client, first_step(client, account), spent), 401)
    token = first_step(client, account)
    assert second_step(client, token, app.code(1)).status_code == 200
    assert_problem(second_step(client, first_step(client, account), app.code(1)), 401)


def test_an_mfa_token_is_single_use(client: httpx.Client) -> None:
    account = logged_in_user(client)
    app = turn_on(client, account)
    token = first_step(client, account)
    assert second_step(client, token, app.code(1)).status_code == 200
    body = assert_problem(second_step(client, token, app.recovery_codes[0]), 401)
    assert "mfa_token" in body["detail"]
    assert_problem(second_step(client, "x" * 43, app.recovery_codes[0]), 401)


def test_an_mfa_token_expires(make_server: Callable[..., LiveServer]) -> None:
    server = make_server(mfa_token_ttl=1)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        account = logged_in_user(client)
        app = turn_on(client, account)
        token = first_step(client, account)
        time.sleep(2.1)
        assert_problem(second_step(client, token, app.code(1)), 401)


def test_five_wrong_codes_kill_the_mfa_token(client: httpx.Client) -> None:
    account = logged_in_user(client)
    app = turn_on(client, account)
    token = first_step(client, account)
    right = {app.code(s) for s in (-1, 0, 1)}
    wrong = next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in right)
    for _ in range(5):
        assert_problem(second_step(client, token, wrong), 401)
    assert_problem(second_step(client, token, app.code(1)), 401)
    # A new login is not affected: its token is new, and the code is still unspent.
    assert second_step(client, first_step(client, account), app.code(1)).status_code == 200


def test_wrong_codes_count_toward_the_login_limits(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    server = make_server(redis_url=private_redis.url, login_max_per_account=3, login_window=600)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        account = logged_in_user(client)
        app = turn_on(client, account)
        right = {app.code(s) for s in (-1, 0, 1)}
        wrong = next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in right)
        token = first_step(client, account)
        for _ in range(3):
            assert_problem(second_step(client, token, wrong), 401)
        response = second_step(client, token, app.code(1))
        assert_problem(response, 429)
        assert 0 < int(response.headers["Retry-After"]) <= 600
        # The password step is limited too now, as after three wrong passwords.
        response = client.post(LOGIN, json={"username": account.username, "password": PASSWORD})
        assert_problem(response, 429)


@pytest.mark.parametrize(
    "code",
    [
        "12345",
        "1234567",
        "abcdef",
        "12 456",
        "\uff11\uff12\uff13\uff14\uff15\uff16",
        "abcd-efgh-ijk1",
        "",
        "a" * 100,
    ],
)
def test_codes_of_the_wrong_length_or_alphabet_are_422(client: httpx.Client, code: str) -> None:
    assert_problem(second_step(client, "x" * 43, code), 422)
    account = logged_in_user(client)
    assert_problem(client.post(CONFIRM, json={"code": code}, headers=account.auth), 422)


def test_a_code_must_be_a_string(client: httpx.Client) -> None:
    assert_problem(client.post(LOGIN_MFA, json={"mfa_token": "x" * 43, "code": 123456}), 422)


def test_recovery_codes_log_in_once_each(client: httpx.Client) -> None:
    account = logged_in_user(client)
    app = turn_on(client, account)
    first, second = app.recovery_codes[:2]
    assert second_step(client, first_step(client, account), first).status_code == 200
    assert_problem(second_step(client, first_step(client, account), first), 401)
    # Any spelling of an unused one: upper case, without the dashes.
    token = first_step(client, account, SESSION)
    assert second_step(client, token, second.replace("-", "").upper(), SESSION_MFA).status_code == 200


def test_a_recovery_code_used_in_parallel_succeeds_once(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        account = logged_in_user(client)
        app = turn_on(client, account)
        tokens = [first_step(client, account) for _ in range(8)]

    def redeem(token: str) -> int:
        with httpx.Client(base_url=server.url, timeout=30) as own:
            return second_step(own, token, app.recovery_codes[0]).status_code

    with ThreadPoolExecutor(len(tokens)) as pool:
        statuses = list(pool.map(redeem, tokens))
    assert sorted(statuses) == [200] + [401] * 7


def test_password_change_needs_the_code_once_it_is_on(client: httpx.Client) -> None:
    account = logged_in_user(client)
    app = turn_on(client, account)
    change = {"current_password": PASSWORD, "new_password": "a brand new password"}
    body = assert_problem(client.put(PASSWORD_CHANGE, json=change, headers=account.auth), 403)
    assert "code" in body["detail"]
    assert_problem(client.put(PASSWORD_CHANGE, json=change | {"code": app.code()}, headers=account.auth), 403)
    response = client.put(PASSWORD_CHANGE, json=change | {"code": app.code(1)}, headers=account.auth)
    assert response.status_code == 204, response.text


def test_turning_it_off_needs_the_password_and_a_code(client: httpx.Client) -> None:
    account = logged_in_user(client)
    app = turn_on(client, account)
    off = {"current_password": PASSWORD}
    assert_problem(client.request("DELETE", TOTP, json=off, headers=account.auth), 403)
    assert_problem(
        client.request(
            "DELETE", TOTP, json={"current_password": "no", "code": app.code(1)}, headers=account.auth
        ),
        403,
    )
    response = client.request(
        "DELETE", TOTP, json=off | {"code": app.recovery_codes[0]}, headers=account.auth
    )
    assert response.status_code == 204
    assert log_in(client, account).access_token  # one step again
    # The old recovery codes went with it.
    again = enrol(client, account)
    response = client.post(CONFIRM, json={"code": again.code(1)}, headers=account.auth)
    again.recovery_codes = response.json()["recovery_codes"]
    assert_problem(second_step(client, first_step(client, account), app.recovery_codes[1]), 401)
    assert second_step(client, first_step(client, account), again.recovery_codes[0]).status_code == 200


def test_an_authenticator_made_from_the_uri_logs_in(client: httpx.Client) -> None:
    account = logged_in_user(client)
    response = client.post(TOTP, json={"current_password": PASSWORD}, headers=account.auth)
    totp = pyotp.parse_uri(response.json()["otpauth_uri"])
    app = Authenticator(totp.secret)
    assert client.post(CONFIRM, json={"code": totp.now()}, headers=account.auth).status_code == 200
    assert second_step(client, first_step(client, account), app.code(1)).status_code == 200


def test_redis_holds_no_mfa_token_and_no_secret_only_their_traces(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    server = make_server(redis_url=private_redis.url)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        account = logged_in_user(client)
        app = turn_on(client, account)
        token = first_step(client, account)
        store = private_redis.client()
        dump = []
        for key in store.scan_iter():
            kind = store.type(key)
            value = store.hgetall(key) if kind == "hash" else store.get(key) if kind == "string" else ""
            dump.append(f"{key} {value}")
        everything = "\n".join(dump)
        assert token not in everything and app.secret not in everything
        assert all(code not in everything for code in app.recovery_codes)
        assert second_step(client, token, app.code(1)).status_code == 200


def test_the_database_holds_the_secret_encrypted_and_the_recovery_codes_hashed(
    make_server: Callable[..., LiveServer], sqlite_url: str
) -> None:
    server = make_server(database_url=sqlite_url)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        account = logged_in_user(client)
        app = turn_on(client, account)
    path = sqlite_url.removeprefix("sqlite+aiosqlite:///")
    with closing(sqlite3.connect(path)) as db:
        (sealed,) = db.execute(
            "SELECT secret_encrypted FROM mfa_totp WHERE user_id = ?", (account.id,)
        ).fetchone()
        hashes = [
            h
            for (h,) in db.execute(
                "SELECT code_hash FROM mfa_recovery_codes WHERE user_id = ?", (account.id,)
            )
        ]
    assert app.secret.encode() not in sealed
    assert (
        Fernet(server.settings.mfa_encryption_keys.get_secret_value().encode()).decrypt(sealed)
        == app.secret.encode()
    )
    assert len(hashes) == 10 and not set(app.recovery_codes) & set(hashes)


def test_turning_it_on_and_off_are_security_events_and_the_login_is_recorded_after_the_second_step(
    client: httpx.Client,
) -> None:
    account = logged_in_user(client)
    app = turn_on(client, account)
    token = first_step(client, account)
    types = [item["type"] for item in client.get(EVENTS, headers=account.auth).json()["items"]]
    assert types[0] == "mfa_enabled"  # the first step opened no login: no login event yet
    assert second_step(client, token, app.code(1)).status_code == 200
    off = {"current_password": PASSWORD, "code": app.recovery_codes[0]}
    assert client.request("DELETE", TOTP, json=off, headers=account.auth).status_code == 204
    types = [item["type"] for item in client.get(EVENTS, headers=account.auth).json()["items"]]
    assert types[:3] == ["mfa_disabled", "login", "mfa_enabled"]


def test_account_deletion_needs_the_code_once_it_is_on(client: httpx.Client) -> None:
    account = logged_in_user(client)
    app = turn_on(client, account)
    delete = {"current_password": PASSWORD}
    assert_problem(client.request("DELETE", ME, json=delete, headers=account.auth), 403)
    response = client.request("DELETE", ME, json=delete | {"code": app.code(1)}, headers=account.auth)
    assert response.status_code == 204
    assert_problem(client.get(ME, headers=account.auth), 401)


def test_the_export_holds_neither_the_secret_nor_the_recovery_codes(client: httpx.Client) -> None:
    account = logged_in_user(client)
    app = turn_on(client, account)
    response = client.get(f"{ME}/export", headers=account.auth)
    assert response.status_code == 200
    assert app.secret not in response.text
    assert all(code not in response.text for code in app.recovery_codes)
