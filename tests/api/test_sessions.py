"""Login sessions: metadata, listing, ending one, logging out everywhere, changing the password."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx

from tests.factories import PASSWORD, Account, log_in, logged_in_user, register
from tests.support.live import LiveServer
from tests.support.processes import RedisServer

SESSIONS = "/api/v1/auth/sessions"
LOGOUT_ALL = "/api/v1/auth/logout-all"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/users/me"
PASSWORD_URL = "/api/v1/users/me/password"


def another_login(client: httpx.Client, account: Account, user_agent: str = "second-device/1.0") -> Account:
    response = client.post(
        LOGIN,
        json={"username": account.username, "password": account.password},
        headers={"User-Agent": user_agent},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return Account(
        account.username, account.password, account.id, body["access_token"], body["refresh_token"]
    )


def test_sessions_list_shows_each_login_with_its_metadata(client: httpx.Client) -> None:
    first = logged_in_user(client)
    second = another_login(client, first, user_agent="phone-app/2.1")
    response = client.get(SESSIONS, headers=second.auth)
    assert response.status_code == 200
    sessions = response.json()
    assert len(sessions) == 2
    for session in sessions:
        assert set(session) == {"id", "created_at", "last_seen_at", "user_agent", "ip", "current"}
        assert session["ip"] == "127.0.0.1"
        created = datetime.fromisoformat(session["created_at"])
        assert created.tzinfo is not None
        assert datetime.fromisoformat(session["last_seen_at"]) >= created
    current = [s for s in sessions if s["current"]]
    assert len(current) == 1
    assert current[0]["user_agent"] == "phone-app/2.1"
    assert {s["user_agent"] for s in sessions if not s["current"]} == {f"python-httpx/{httpx.__version__}"}


def test_a_refresh_shows_the_refreshing_clients_agent_with_its_address(
    make_server: Callable[..., LiveServer],
) -> None:
    # One proxy in front: its X-Forwarded-For entry is the client's address.
    server = make_server(trusted_proxies=1)
    laptop = {"User-Agent": "laptop-browser/1.0", "X-Forwarded-For": "198.51.100.7"}
    phone = {"User-Agent": "phone-app/2.1", "X-Forwarded-For": "203.0.113.9"}
    with httpx.Client(base_url=server.url) as client:
        account = register(client)
        credentials = {"username": account.username, "password": account.password}
        login = client.post(LOGIN, json=credentials, headers=laptop).json()
        listed = _current(client.get(SESSIONS, headers=_bearer(login["access_token"])).json())
        assert (listed["user_agent"], listed["ip"]) == ("laptop-browser/1.0", "198.51.100.7")
        pair = client.post(REFRESH, json={"refresh_token": login["refresh_token"]}, headers=phone)
        assert pair.status_code == 200
        listed = _current(client.get(SESSIONS, headers=_bearer(pair.json()["access_token"])).json())
    assert (listed["user_agent"], listed["ip"]) == ("phone-app/2.1", "203.0.113.9")


def _bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def test_an_authenticated_request_updates_last_seen(make_server: Callable[..., LiveServer]) -> None:
    server = make_server(session_seen_interval=0)
    with httpx.Client(base_url=server.url) as client:
        account = logged_in_user(client)
        before = _current(client.get(SESSIONS, headers=account.auth).json())
        after = _current(client.get(SESSIONS, headers=account.auth).json())
    assert after["created_at"] == before["created_at"]
    assert after["last_seen_at"] > before["last_seen_at"]


def _current(sessions: list[dict]) -> dict:
    # Not sessions[0]: a fresh database numbers users from 1 again, and the
    # shared test Redis may still hold an earlier test's user 1's sessions.
    return next(session for session in sessions if session["current"])


def test_last_seen_is_written_at_most_once_per_interval(client: httpx.Client) -> None:
    # The default interval (60 s): requests right after the login write
    # nothing, so Redis has nothing to fsync or replicate for them.
    account = logged_in_user(client)
    first = client.get(SESSIONS, headers=account.auth).json()[0]
    for _ in range(3):
        assert client.get(ME, headers=account.auth).status_code == 200
    assert client.get(SESSIONS, headers=account.auth).json()[0]["last_seen_at"] == first["last_seen_at"]


def test_a_user_sees_only_their_own_sessions(client: httpx.Client) -> None:
    alice, bob = logged_in_user(client), logged_in_user(client)
    alice_ids = {s["id"] for s in client.get(SESSIONS, headers=alice.auth).json()}
    bob_ids = {s["id"] for s in client.get(SESSIONS, headers=bob.auth).json()}
    assert len(alice_ids) == len(bob_ids) == 1
    assert not alice_ids & bob_ids


def test_deleting_a_session_revokes_its_tokens(client: httpx.Client) -> None:
    laptop = logged_in_user(client)
    phone = another_login(client, laptop)
    phone_id = next(s["id"] for s in client.get(SESSIONS, headers=phone.auth).json() if s["current"])
    assert client.delete(f"{SESSIONS}/{phone_id}", headers=laptop.auth).status_code == 204
    assert client.get(ME, headers=phone.auth).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": phone.refresh_token}).status_code == 401
    assert client.get(ME, headers=laptop.auth).status_code == 200
    assert [s["id"] for s in client.get(SESSIONS, headers=laptop.auth).json()] != [phone_id]
    assert client.delete(f"{SESSIONS}/{phone_id}", headers=laptop.auth).status_code == 404


def test_deleting_another_users_session_is_404_and_changes_nothing(client: httpx.Client) -> None:
    alice, mallory = logged_in_user(client), logged_in_user(client)
    alice_id = client.get(SESSIONS, headers=alice.auth).json()[0]["id"]
    response = client.delete(f"{SESSIONS}/{alice_id}", headers=mallory.auth)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert client.get(ME, headers=alice.auth).status_code == 200


def test_deleting_an_unknown_or_malformed_session_id_is_404(client: httpx.Client) -> None:
    account = logged_in_user(client)
    for session_id in ["0" * 32, "not-an-id", "x" * 300, "*"]:
        assert client.delete(f"{SESSIONS}/{session_id}", headers=account.auth).status_code == 404


def test_sessions_need_authentication(client: httpx.Client) -> None:
    assert client.get(SESSIONS).status_code == 401
    assert client.delete(f"{SESSIONS}/{'0' * 32}").status_code == 401
    assert client.post(LOGOUT_ALL).status_code == 401


def test_logout_all_revokes_every_session_of_the_user_only(client: httpx.Client) -> None:
    first = logged_in_user(client)
    second = another_login(client, first)
    stranger = logged_in_user(client)
    assert client.post(LOGOUT_ALL, headers=second.auth).status_code == 204
    for account in (first, second):
        assert client.get(ME, headers=account.auth).status_code == 401
        refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
        assert refresh.status_code == 401
    assert client.get(ME, headers=stranger.auth).status_code == 200
    fresh = log_in(client, Account(first.username, first.password, first.id))
    assert len(client.get(SESSIONS, headers=fresh.auth).json()) == 1


def test_password_change_keeps_this_session_and_revokes_the_others(client: httpx.Client) -> None:
    here = logged_in_user(client)
    elsewhere = another_login(client, here)
    new_password = "a whole new password"
    response = client.put(
        PASSWORD_URL, json={"current_password": PASSWORD, "new_password": new_password}, headers=here.auth
    )
    assert response.status_code == 204
    assert client.get(ME, headers=here.auth).status_code == 200
    assert client.get(ME, headers=elsewhere.auth).status_code == 401
    old = client.post(LOGIN, json={"username": here.username, "password": PASSWORD})
    assert old.status_code == 401
    log_in(client, Account(here.username, new_password, here.id))


def test_password_change_with_a_wrong_current_password_is_403(client: httpx.Client) -> None:
    account = logged_in_user(client)
    other = another_login(client, account)
    response = client.put(
        PASSWORD_URL,
        json={"current_password": "not the password", "new_password": "a whole new password"},
        headers=account.auth,
    )
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/problem+json"
    assert client.get(ME, headers=other.auth).status_code == 200
    log_in(client, account)  # the old password still works


def test_an_invalid_new_password_is_422_and_changes_nothing(client: httpx.Client) -> None:
    account = register(client, password=PASSWORD)
    log_in(client, account)
    for new_password, message in [
        ("short", "must be at least 8 characters"),
        ("€" * 25, "must be at most 72 bytes in UTF-8"),
        (account.username.upper(), "must not be the username"),
    ]:
        response = client.put(
            PASSWORD_URL,
            json={"current_password": PASSWORD, "new_password": new_password},
            headers=account.auth,
        )
        assert response.status_code == 422, new_password
        assert {"field": "new_password", "message": message} in response.json()["errors"]
    missing = client.put(PASSWORD_URL, json={"new_password": "long enough"}, headers=account.auth)
    assert missing.status_code == 422
    log_in(client, account)


def test_password_change_needs_authentication(client: httpx.Client) -> None:
    response = client.put(PASSWORD_URL, json={"current_password": PASSWORD, "new_password": "x" * 10})
    assert response.status_code == 401


def test_a_login_beyond_the_per_user_limit_ends_the_oldest_session(
    make_server: Callable[..., LiveServer],
) -> None:
    server = make_server(max_sessions_per_user=3)
    with httpx.Client(base_url=server.url) as client:
        first = logged_in_user(client)
        logins = [first] + [another_login(client, first) for _ in range(4)]
        for ended in logins[:2]:
            assert client.get(ME, headers=ended.auth).status_code == 401
        for kept in logins[2:]:
            assert client.get(ME, headers=kept.auth).status_code == 200
        assert len(client.get(SESSIONS, headers=logins[-1].auth).json()) == 3


def test_a_login_that_ends_the_oldest_session_waits_for_replicas_like_a_logout(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    # Ending a session to make room is a revocation: with replica acks asked
    # for and no replica to give them, it is refused like a logout would be.
    server = make_server(
        redis_url=private_redis.url, max_sessions_per_user=1, redis_replica_acks=1, redis_replica_timeout=0.2
    )
    with httpx.Client(base_url=server.url) as client:
        first = logged_in_user(client)  # nothing ended: no wait
        credentials = {"username": first.username, "password": first.password}
        response = client.post("/api/v1/auth/login", json=credentials)
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"


def _sessions_of(client: httpx.Client, user_agent: str) -> tuple[Account, list[dict]]:
    account = another_login(client, register(client), user_agent=user_agent)
    response = client.get(SESSIONS, headers=account.auth)
    assert response.status_code == 200
    return account, response.json()


def test_accounts_sharing_a_user_agent_each_see_it_stored_once(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    server = make_server(redis_url=private_redis.url)
    with httpx.Client(base_url=server.url) as client:
        listed = [_sessions_of(client, "shared-browser/9.0")[1] for _ in range(3)]
    assert [[s["user_agent"] for s in sessions] for sessions in listed] == [["shared-browser/9.0"]] * 3
    store = private_redis.client()
    assert [store.get(key) for key in store.scan_iter("auth:ua:*")] == ["shared-browser/9.0"]


def test_a_session_whose_user_agent_is_gone_lists_it_as_unknown(
    make_server: Callable[..., LiveServer], private_redis: RedisServer
) -> None:
    server = make_server(redis_url=private_redis.url)
    store = private_redis.client()
    with httpx.Client(base_url=server.url) as client:
        account, _ = _sessions_of(client, "short-lived/1.0")
        for key in store.scan_iter("auth:ua:*"):
            store.delete(key)  # as if it had expired, or its node lost it
        response = client.get(SESSIONS, headers=account.auth)
    assert response.status_code == 200
    assert [s["user_agent"] for s in response.json()] == [""]
