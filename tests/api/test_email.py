"""Email flows end to end: the live server queues, a real worker delivers to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import re
import secrets
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import base_settings
from tests.factories import PASSWORD, Account, assert_problem, random_username
from tests.support.databases import Databases
from tests.support.live import LiveServer
from tests.support.smtp import MailWorker, Received, SmtpSink
from tests.support.totp import turn_on

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
ME = "/api/v1/users/me"
MY_EMAIL = "/api/v1/users/me/email"
VERIFICATION = "/api/v1/auth/email/verification"
VERIFY = "/api/v1/auth/email/verify"
FORGOT = "/api/v1/auth/password/forgot"
RESET = "/api/v1/auth/password/reset"
PUBLIC_URL = "https://notes.test"
LINK = re.compile(r"https://notes\.test/(verify-email|reset-password)\?token=([A-Za-z0-9_-]+)")


@dataclass
class Stack:
    server: LiveServer
    sink: SmtpSink
    worker: MailWorker
    http: httpx.Client

    def mails_to(self, address: str, count: int = 1, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.sink.received if address in m.recipients]
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{count} mail(s) to {address} expected, got {len(found)}")

    def link(self, address: str, kind: str, count: int = 1, timeout: float = 20.0) -> str:
        """The token of the ``count``-th mail to ``address`` whose link is of ``kind``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tokens = []
            for mail in [m for m in self.sink.received if address in m.recipients]:
                body = mail.message.get_body(("plain",))
                match = LINK.search(body.get_content()) if body is not None else None
                if match is not None and match.group(1) == kind:
                    tokens.append(match.group(2))
            if len(tokens) >= count:
                return tokens[count - 1]
            time.sleep(0.05)
        raise AssertionError(f"no {count}. {kind} link to {address}")


@pytest.fixture(scope="module")
def stack(databases: Databases, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    queue = f"mail-{secrets.token_hex(4)}"  # this module's own queue on the shared Redis
    sink = SmtpSink()
    mail = {
        "smtp_url": f"smtp://127.0.0.1:{sink.port}",
        "public_url": PUBLIC_URL,
        "mail_queue": queue,
        "mail_retry_base_delay": 0.2,
        "mail_retry_max_delay": 1.0,
        "smtp_timeout": 5.0,
        "mail_reclaim_after": 6.0,
    }
    server = LiveServer(base_settings(databases.new(), redis_url, **mail))
    environ = {"APP_ENV": "production", "REDIS_URL": redis_url} | {
        name.upper(): str(value) for name, value in mail.items()
    }
    worker = MailWorker(tmp_path_factory.mktemp("worker") / "worker.log", environ)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield Stack(server, sink, worker, http)
    worker.stop()
    server.stop()
    sink.stop()


def new_address() -> str:
    return f"{secrets.token_hex(5)}@example.com"


def register(stack: Stack, email: str | None) -> tuple[str, dict[str, str]]:
    """A new account (with ``email`` if given), logged in: its name and bearer header."""
    name = random_username()
    body: dict[str, str] = {"username": name, "password": PASSWORD}
    if email is not None:
        body["email"] = email
    created = stack.http.post(REGISTER, json=body)
    assert created.status_code == 201, created.text
    shown = created.json()["email"]
    assert (shown and shown.lower()) == (email and email.lower())
    assert created.json()["email_verified"] is False
    login = stack.http.post(LOGIN, json={"username": name, "password": PASSWORD})
    assert login.status_code == 200
    return name, {"Authorization": f"Bearer {login.json()['access_token']}"}


def verified(stack: Stack) -> tuple[str, str, dict[str, str]]:
    address = new_address()
    name, auth = register(stack, address)
    token = stack.link(address, "verify-email")
    assert stack.http.post(VERIFY, json={"token": token}).status_code == 204
    return address, name, auth


def test_register_verify_forget_reset_ends_every_old_session(stack: Stack) -> None:
    address, name, auth = verified(stack)
    me = stack.http.get(ME, headers=auth).json()
    assert (me["email"], me["email_verified"]) == (address, True)

    assert stack.http.post(FORGOT, json={"email": address.upper()}).status_code == 202
    token = stack.link(address, "reset-password")
    assert stack.http.post(RESET, json={"token": token, "new_password": "a brand new one"}).status_code == 204

    assert_problem(stack.http.get(ME, headers=auth), 401)  # the old session is dead
    old = stack.http.post(LOGIN, json={"username": name, "password": PASSWORD})
    assert old.status_code == 401
    new = stack.http.post(LOGIN, json={"username": name, "password": "a brand new one"})
    assert new.status_code == 200
    # Spent: the same link again is refused, and the account was told of the reset.
    assert_problem(stack.http.post(RESET, json={"token": token, "new_password": "yet another one"}), 400)
    subjects = [m.message["Subject"] for m in stack.mails_to(address, 3)]
    assert any("was reset" in subject for subject in subjects)


def test_forgot_answers_alike_for_hit_and_miss_and_mails_only_the_hit(stack: Stack) -> None:
    address, _, _ = verified(stack)
    unknown = new_address()
    hit = stack.http.post(FORGOT, json={"email": address})
    miss = stack.http.post(FORGOT, json={"email": unknown})
    assert (hit.status_code, miss.status_code) == (202, 202)
    assert hit.json() == miss.json() and hit.headers["Content-Type"] == miss.headers["Content-Type"]
    stack.mails_to(address, 2)
    time.sleep(1)
    assert not [m for m in stack.sink.received if unknown in m.recipients]


def test_forgot_takes_about_the_same_time_for_hit_and_miss(stack: Stack) -> None:
    address, _, _ = verified(stack)
    times: dict[str, list[float]] = {"hit": [], "miss": []}
    for _ in range(4):  # under the per-address limit (5)
        for kind, email in (("hit", address), ("miss", new_address())):
            started = time.perf_counter()
            assert stack.http.post(FORGOT, json={"email": email}).status_code == 202
            times[kind].append(time.perf_counter() - started)
    hit, miss = statistics.median(times["hit"]), statistics.median(times["miss"])
    print(f"forgot median: hit {hit * 1000:.2f} ms, miss {miss * 1000:.2f} ms")
    assert abs(hit - miss) < max(0.025, 0.5 * max(hit, miss))  # generous: a shared, loaded machine


def test_a_newer_reset_link_cancels_the_older_and_a_password_change_kills_both(stack: Stack) -> None:
    address, _, auth = verified(stack)
    stack.http.post(FORGOT, json={"email": address})
    first = stack.link(address, "reset-password")
    stack.http.post(FORGOT, json={"email": address})
    second = stack.link(address, "reset-password", count=2)
    assert_problem(stack.http.post(RESET, json={"token": first, "new_password": "another password"}), 400)
    changed = stack.http.put(
        f"{ME}/password", headers=auth, json={"current_password": PASSWORD, "new_password": "changed it now"}
    )
    assert changed.status_code == 204
    assert "was changed" in stack.mails_to(address, 4)[3].message["Subject"]  # the notice
    assert_problem(stack.http.post(RESET, json={"token": second, "new_password": "another password"}), 400)


def test_forgot_storm_from_one_address_is_limited_alike_for_hit_and_miss(stack: Stack) -> None:
    address, _, _ = verified(stack)
    unknown = new_address()
    for email in (address, unknown):
        codes = [stack.http.post(FORGOT, json={"email": email}).status_code for _ in range(6)]
        assert codes == [202] * 5 + [429]


def test_change_email_needs_the_password_tells_the_old_address_and_refuses_a_taken_one(stack: Stack) -> None:
    address, _, auth = verified(stack)
    other, _, _ = verified(stack)
    new = new_address()
    wrong = stack.http.put(MY_EMAIL, headers=auth, json={"email": new, "current_password": "not it at all"})
    assert_problem(wrong, 403)
    body = {"email": other.upper(), "current_password": PASSWORD}
    taken = stack.http.put(MY_EMAIL, headers=auth, json=body)
    assert_problem(taken, 409)
    accepted = stack.http.put(MY_EMAIL, headers=auth, json={"email": new, "current_password": PASSWORD})
    assert accepted.status_code == 202
    notice = stack.mails_to(address, 2)[1]
    text = notice.message.get_body(("plain",))
    assert "changing" in notice.message["Subject"] and text is not None and new in text.get_content()
    # The old address stays the account's until the new one is confirmed.
    assert stack.http.get(ME, headers=auth).json()["email"] == address
    assert stack.http.post(VERIFY, json={"token": stack.link(new, "verify-email")}).status_code == 204
    me = stack.http.get(ME, headers=auth).json()
    assert (me["email"], me["email_verified"]) == (new, True)


def test_verification_requests_and_bad_tokens(stack: Stack) -> None:
    _, no_address = register(stack, None)
    assert_problem(stack.http.post(VERIFICATION, headers=no_address), 422)
    address = new_address()
    _, auth = register(stack, address)
    first = stack.link(address, "verify-email")
    assert stack.http.post(VERIFICATION, headers=auth).status_code == 202
    second = stack.link(address, "verify-email", count=2)
    assert_problem(stack.http.post(VERIFY, json={"token": first}), 400)  # the newer cancelled it
    reset_token_as_verify = stack.http.post(RESET, json={"token": second, "new_password": "whatever it is"})
    assert_problem(reset_token_as_verify, 400)  # a verification token is no reset token
    for bad in ("short", "A" * 43, "é" * 43, "A" * 42 + "!"):
        assert_problem(stack.http.post(VERIFY, json={"token": bad}), 400)
    assert_problem(stack.http.post(VERIFY, json={"token": "A" * 300}), 422)
    assert stack.http.post(VERIFY, json={"token": second}).status_code == 204
    assert_problem(stack.http.post(VERIFY, json={"token": second}), 400)  # used
    assert_problem(stack.http.post(VERIFICATION, headers=auth), 409)


@pytest.mark.parametrize(
    "email", ["no-at-sign", "a@b", "x" * 250 + "@example.com", "a@@example.com", "ann@exa mple.com", 42]
)
def test_malformed_addresses_are_422(stack: Stack, email: object) -> None:
    assert_problem(stack.http.post(FORGOT, json={"email": email}), 422)
    body = {"username": random_username(), "password": PASSWORD, "email": email}
    assert_problem(stack.http.post(REGISTER, json=body), 422)


def test_an_address_confirmed_by_another_account_first_cannot_be_confirmed_again(stack: Stack) -> None:
    address = new_address()
    shouted = address.split("@")[0].upper() + "@example.com"  # the same address, another case
    register(stack, address)
    register(stack, shouted)  # unconfirmed addresses may repeat: registering says nothing
    first = stack.link(address, "verify-email")
    second = stack.link(shouted, "verify-email")
    assert stack.http.post(VERIFY, json={"token": first}).status_code == 204
    assert_problem(stack.http.post(VERIFY, json={"token": second}), 400)


def test_mail_queued_during_an_smtp_outage_arrives_once_it_is_back(stack: Stack) -> None:
    address, _, _ = verified(stack)
    stack.sink.stop()
    try:
        started = time.perf_counter()
        assert stack.http.post(FORGOT, json={"email": address}).status_code == 202
        assert time.perf_counter() - started < 1.0  # the request never waits on SMTP
        time.sleep(1.5)  # a few failed attempts
    finally:
        stack.sink.start()
    token = stack.link(address, "reset-password")
    done = stack.http.post(RESET, json={"token": token, "new_password": "after the outage"})
    assert done.status_code == 204
    assert "failed" in stack.worker.log()


TOKENS = "/api/v1/auth/tokens"
EVENTS = "/api/v1/auth/events"


def _account(name: str, auth: dict[str, str]) -> Account:
    return Account(name, PASSWORD, 0, access_token=auth["Authorization"].removeprefix("Bearer "))


def test_a_reset_revokes_every_personal_access_token_and_is_recorded(stack: Stack) -> None:
    address, name, auth = verified(stack)
    created = stack.http.post(
        TOKENS,
        json={"name": "ci", "scopes": ["profile:read"], "current_password": PASSWORD},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    machine = {"Authorization": f"Bearer {created.json()['token']}"}
    assert stack.http.get(ME, headers=machine).status_code == 200

    assert stack.http.post(FORGOT, json={"email": address}).status_code == 202
    token = stack.link(address, "reset-password")
    assert stack.http.post(RESET, json={"token": token, "new_password": "a brand new one"}).status_code == 204

    assert_problem(stack.http.get(ME, headers=machine), 401)  # at once, not after a cache expires
    login = stack.http.post(LOGIN, json={"username": name, "password": "a brand new one"})
    fresh = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert stack.http.get(TOKENS, headers=fresh).json() == []
    types = [event["type"] for event in stack.http.get(EVENTS, headers=fresh).json()["items"]]
    assert types[:2] == ["login", "password_reset"]
    assert {"token_created", "email_verified"} <= set(types)


def test_with_the_second_factor_on_an_address_change_and_a_new_token_need_the_code(stack: Stack) -> None:
    address, name, auth = verified(stack)
    app = turn_on(stack.http, _account(name, auth))
    notices = [m.message["Subject"] for m in stack.mails_to(address, 2)]
    assert any("Two-step sign-in is on" in subject for subject in notices)

    change = {"email": new_address(), "current_password": PASSWORD}
    assert_problem(stack.http.put(MY_EMAIL, json=change, headers=auth), 403)
    token = {"name": "ci", "scopes": ["notes:read"], "current_password": PASSWORD}
    assert_problem(stack.http.post(TOKENS, json=token, headers=auth), 403)
    # A recovery code each: the TOTP code of this step was spent by the confirmation.
    code = app.recovery_codes.pop()
    assert stack.http.put(MY_EMAIL, json=change | {"code": code}, headers=auth).status_code == 202
    code = app.recovery_codes.pop()
    assert stack.http.post(TOKENS, json=token | {"code": code}, headers=auth).status_code == 201
    types = [event["type"] for event in stack.http.get(EVENTS, headers=auth).json()["items"]]
    assert types[:3] == ["token_created", "email_changed", "mfa_enabled"]
