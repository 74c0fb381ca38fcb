"""Locust profile: API clients with bearer tokens, browsers with a cookie session, scripts with
personal access tokens (which they replace and revoke now and then), and clients refreshing
from several tabs at once. With ``LOAD_INTROSPECTION_CLIENT=id:secret`` (a pair of the
target's INTROSPECTION_CLIENTS), the scripts' tokens are introspected too, live and revoked.

``make load HOST=http://127.0.0.1:8000 USERS=50 SPAWN_RATE=10 DURATION=1m`` runs it
headless and writes ``reports/load.html`` and ``reports/load_*.csv``. Each request
is named by its route (``/api/v1/notes/{id}``), so the report groups them, and a
request counts as failed when its status or body is wrong, not only on errors.
Written to the contract in ``api-contract.md``; a route the target does not have
yet shows up as failures with its status, which is what the report is for.
"""

from __future__ import annotations

import base64
import hmac
import os
import struct
import time
import uuid
from collections.abc import Callable
from typing import Any

from locust import HttpUser, between, task
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

API = "/api/v1"
PASSWORD = "load-test-password"
# Refresh this long before the access token expires, so no request races the expiry.
REFRESH_MARGIN = 30.0
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# "id:secret" of an INTROSPECTION_CLIENTS pair of the target: machine clients then introspect their tokens.
INTROSPECTION_CLIENT = os.environ.get("LOAD_INTROSPECTION_CLIENT", "")


def _new_username() -> str:
    return f"load-{uuid.uuid4().hex[:20]}"


def _check(response: Any, status: int, body: Callable[[Any], bool] | None = None) -> Any:
    """Mark ``response`` (from ``catch_response=True``) failed unless status and body are right."""
    if response.status_code != status:
        retry = response.headers.get("Retry-After")
        suffix = f" (Retry-After {retry})" if retry else ""
        response.failure(f"expected {status}, got {response.status_code}{suffix}")
        return None
    if body is None:
        response.success()
        return None
    try:
        data = response.json()
    except ValueError:
        response.failure("the body is not JSON")
        return None
    if not body(data):
        response.failure(f"unexpected body: {str(data)[:200]}")
        return None
    response.success()
    return data


def _is_note(data: Any) -> bool:
    return isinstance(data, dict) and {"id", "title", "body", "created_at", "updated_at"} <= data.keys()


def _is_page(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and isinstance(data.get("items"), list)
        and "next_cursor" in data
        and all(_is_note(item) for item in data["items"])
    )


class _Account(HttpUser):
    """Shared by both kinds of user: one account registered once, a few notes of its own."""

    abstract = True
    headers: dict[str, str]

    def on_start(self) -> None:
        # As browsers do, and RFC 9110 (9.2.2) allows: an idempotent request whose connection
        # closed under it without an answer (a keep-alive connection the server was closing, as
        # nginx does on a reload) is sent once more. A POST never is: losing one is a failure.
        replay = Retry(total=1, connect=1, read=1, status=0, other=0, allowed_methods=IDEMPOTENT)
        self.client.mount("http://", HTTPAdapter(max_retries=replay))
        self.client.mount("https://", HTTPAdapter(max_retries=replay))
        self.username = _new_username()
        self.note_ids: list[str] = []
        self.headers = {}
        self.expect(
            "POST",
            f"{API}/auth/register",
            201,
            lambda data: data.get("username") == self.username,
            json={"username": self.username, "password": PASSWORD},
            name=f"{API}/auth/register",
        )
        self.log_in()

    def log_in(self) -> None:
        raise NotImplementedError

    def expect(
        self, method: str, url: str, status: int, body: Callable[[Any], bool] | None = None, **request: Any
    ) -> Any:
        """One request, failed unless its status and body are right; the body's JSON if they are."""
        with self.client.request(method, url, catch_response=True, **request) as response:
            return _check(response, status, body)

    def unsafe_headers(self) -> dict[str, str]:
        """Headers for POST, PATCH and DELETE."""
        return self.headers

    def read_me(self) -> None:
        self.expect(
            "GET",
            f"{API}/users/me",
            200,
            lambda data: data.get("username") == self.username and "id" in data,
            headers=self.headers,
            name=f"{API}/users/me",
        )

    def list_notes(self) -> None:
        self.expect("GET", f"{API}/notes?limit=20", 200, _is_page, headers=self.headers, name=f"{API}/notes")

    def create_note(self) -> None:
        title = f"note {uuid.uuid4().hex[:8]}"
        with self.client.post(
            f"{API}/notes",
            json={"title": title, "body": "written by the load test " * 8},
            headers=self.unsafe_headers(),
            name=f"{API}/notes",
            catch_response=True,
        ) as response:
            data = _check(response, 201, lambda data: _is_note(data) and data["title"] == title)
            if data is not None and not response.headers.get("Location"):
                response.failure("201 without a Location header")
            elif data is not None:
                self.note_ids.append(str(data["id"]))


class ApiClient(_Account):
    """A program using bearer tokens: reads itself often, works on its notes, refreshes, logs out."""

    weight = 4
    wait_time = between(0.2, 1.0)

    def log_in(self) -> None:
        data = self.expect(
            "POST",
            f"{API}/auth/login",
            200,
            lambda data: {"access_token", "refresh_token"} <= data.keys(),
            json={"username": self.username, "password": PASSWORD},
            name=f"{API}/auth/login",
        )
        if data is None:
            self.headers = {}
            return
        self._take(data)

    def _take(self, pair: dict[str, Any]) -> None:
        self.access, self.refresh = pair["access_token"], pair["refresh_token"]
        lifetime = float(pair.get("expires_in", 900))
        # A third of a short lifetime (a drill's) leaves time to refresh without refreshing every request.
        self.refresh_at = time.monotonic() + lifetime - min(REFRESH_MARGIN, lifetime / 3)
        self.headers = {"Authorization": f"Bearer {self.access}"}

    def _fresh(self) -> None:
        """Refresh the pair shortly before the access token expires, as a good client does."""
        if not self.headers:
            self.log_in()
        elif time.monotonic() > self.refresh_at:
            spent = self.refresh
            data = self.expect(
                "POST",
                f"{API}/auth/refresh",
                200,
                lambda data: data.get("refresh_token") not in (None, spent),
                json={"refresh_token": self.refresh},
                name=f"{API}/auth/refresh",
            )
            if data is None:
                self.log_in()
            else:
                self._take(data)

    @task(12)
    def me(self) -> None:
        self._fresh()
        self.read_me()

    @task(4)
    def notes_list(self) -> None:
        self._fresh()
        self.list_notes()

    @task(2)
    def note_create(self) -> None:
        self._fresh()
        self.create_note()

    @task(2)
    def note_read(self) -> None:
        if not self.note_ids:
            return
        self._fresh()
        note_id = self.note_ids[-1]
        self.expect(
            "GET",
            f"{API}/notes/{note_id}",
            200,
            lambda data: _is_note(data) and str(data["id"]) == note_id,
            headers=self.headers,
            name=f"{API}/notes/{{id}}",
        )

    @task(1)
    def note_update(self) -> None:
        if not self.note_ids:
            return
        self._fresh()
        title = f"renamed {uuid.uuid4().hex[:8]}"
        self.expect(
            "PATCH",
            f"{API}/notes/{self.note_ids[0]}",
            200,
            lambda data: _is_note(data) and data["title"] == title,
            json={"title": title},
            headers=self.headers,
            name=f"{API}/notes/{{id}}",
        )

    @task(1)
    def note_delete(self) -> None:
        if not self.note_ids:
            return
        self._fresh()
        note_id = self.note_ids.pop(0)
        self.expect("DELETE", f"{API}/notes/{note_id}", 204, headers=self.headers, name=f"{API}/notes/{{id}}")

    @task(1)
    def log_out_and_in(self) -> None:
        """Log out, check the old token is refused at once, log in again."""
        self._fresh()
        old = self.headers
        self.expect("POST", f"{API}/auth/logout", 204, headers=old, name=f"{API}/auth/logout")
        self.expect("GET", f"{API}/users/me", 401, headers=old, name=f"{API}/users/me [revoked token]")
        self.log_in()


def _totp(secret: str, step: int) -> str:
    """RFC 6238's code of ``step`` (30 s, 6 digits, SHA-1), computed here so the profile needs no pyotp."""
    digest = hmac.digest(base64.b32decode(secret), struct.pack(">Q", step), "sha1")
    offset = digest[-1] & 15
    return f"{(int.from_bytes(digest[offset : offset + 4], 'big') & 0x7FFFFFFF) % 10**6:06d}"


class TwoStepClient(ApiClient):
    """A bearer client whose account has the second factor on: every login takes two steps.

    A code is accepted once, so it logs in at most once per 30-second step,
    as a person typing codes would.
    """

    weight = 1

    def on_start(self) -> None:
        self.secret, self.last_step = "", -1
        super().on_start()  # registers and logs in with the password alone (the factor is off)
        data = self.expect(
            "POST",
            f"{API}/auth/mfa/totp",
            200,
            lambda data: {"secret", "otpauth_uri"} <= data.keys(),
            json={"current_password": PASSWORD},
            headers=self.headers,
            name=f"{API}/auth/mfa/totp",
        )
        if data is None:
            return
        self.secret = data["secret"]
        confirmed = self.expect(
            "POST",
            f"{API}/auth/mfa/totp/confirm",
            200,
            lambda data: len(data.get("recovery_codes", ())) == 10,
            json={"code": self._code()},
            headers=self.headers,
            name=f"{API}/auth/mfa/totp/confirm",
        )
        if confirmed is None:
            self.secret = ""  # still off: log in with the password alone

    def _code(self) -> str:
        self.last_step = int(time.time()) // 30
        return _totp(self.secret, self.last_step)

    def log_in(self) -> None:
        if not self.secret:
            super().log_in()
            return
        challenge = self.expect(
            "POST",
            f"{API}/auth/login",
            202,
            lambda data: data.get("mfa_required") is True,
            json={"username": self.username, "password": PASSWORD},
            name=f"{API}/auth/login [second factor on]",
        )
        while int(time.time()) // 30 <= self.last_step:  # this step's code was used: wait for the next
            time.sleep(1)
        self.headers = {}
        if challenge is None:
            return
        data = self.expect(
            "POST",
            f"{API}/auth/login/mfa",
            200,
            lambda data: {"access_token", "refresh_token"} <= data.keys(),
            json={"mfa_token": challenge["mfa_token"], "code": self._code()},
            name=f"{API}/auth/login/mfa",
        )
        if data is not None:
            self._take(data)


class Browser(_Account):
    """A browser with a cookie session: unsafe requests carry the CSRF token."""

    weight = 1
    wait_time = between(0.5, 2.0)
    log_in_again_at = float("inf")

    def log_in(self) -> None:
        self.client.cookies.clear()
        with self.client.post(
            f"{API}/session",
            json={"username": self.username, "password": PASSWORD},
            name=f"{API}/session",
            catch_response=True,
        ) as response:
            data = _check(response, 200, lambda data: isinstance(data.get("csrf_token"), str))
            cookies = dict(response.cookies)
            expiry = min((c.expires for c in response.cookies if c.expires), default=None)
        if data is None or not cookies:
            self.headers, self.csrf = {}, ""
            return
        # The login lasts as long as its cookie; a person logs in again when it is gone.
        lifetime = expiry - time.time() if expiry else float("inf")
        self.log_in_again_at = time.time() + lifetime - min(REFRESH_MARGIN, lifetime / 3)
        # The cookie is Secure outside development; send it by hand so that a
        # plain-HTTP target (a local run) still gets it, as a browser on HTTPS would.
        self.client.cookies.clear()
        self.headers = {"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}
        self.csrf = data["csrf_token"]

    def unsafe_headers(self) -> dict[str, str]:
        return {**self.headers, "X-CSRF-Token": self.csrf}

    def _ready(self) -> bool:
        if not self.headers or time.time() > self.log_in_again_at:
            self.log_in()
        return bool(self.headers)

    @task(6)
    def me(self) -> None:
        if self._ready():
            self.read_me()

    @task(3)
    def notes_list(self) -> None:
        if self._ready():
            self.list_notes()

    @task(1)
    def note_create(self) -> None:
        if self._ready():
            self.create_note()

    @task(1)
    def note_create_without_csrf(self) -> None:
        """A forged cross-site POST: the cookie alone must not be enough."""
        if not self._ready():
            return
        self.expect(
            "POST",
            f"{API}/notes",
            403,
            json={"title": "forged", "body": ""},
            headers=self.headers,
            name=f"{API}/notes [no CSRF token]",
        )

    @task(1)
    def log_out_and_in(self) -> None:
        if not self._ready():
            return
        self.expect("DELETE", f"{API}/session", 204, headers=self.unsafe_headers(), name=f"{API}/session")
        ended = f"{API}/users/me [ended session]"
        self.expect("GET", f"{API}/users/me", 401, headers=self.headers, name=ended)
        self.log_in()


class MachineClient(_Account):
    """A script with a personal access token: reads itself and its notes, writes a few, replaces its token."""

    weight = 2
    wait_time = between(0.2, 1.0)
    token_id: int | None = None
    session: dict[str, str]

    def log_in(self) -> None:
        pair = self.expect(
            "POST",
            f"{API}/auth/login",
            200,
            lambda data: "access_token" in data,
            json={"username": self.username, "password": PASSWORD},
            name=f"{API}/auth/login",
        )
        if pair is None:
            self.headers = {}
            return
        body = {
            "name": "load test",
            "scopes": ["profile:read", "notes:read", "notes:write"],
            "current_password": PASSWORD,
        }
        data = self.expect(
            "POST",
            f"{API}/auth/tokens",
            201,
            lambda data: str(data.get("token", "")).startswith("pat_"),
            json=body,
            headers={"Authorization": f"Bearer {pair['access_token']}"},
            name=f"{API}/auth/tokens",
        )
        self.headers = {"Authorization": f"Bearer {data['token']}"} if data else {}
        self.token_id = data["id"] if data else None
        self.session = {"Authorization": f"Bearer {pair['access_token']}"}

    def introspect(self, headers: dict[str, str], active: bool, name: str) -> None:
        """What a resource server asks (RFC 7662), when LOAD_INTROSPECTION_CLIENT names its id:secret."""
        if not INTROSPECTION_CLIENT:
            return
        client_id, _, secret = INTROSPECTION_CLIENT.partition(":")
        token = headers["Authorization"].removeprefix("Bearer ")
        self.expect(
            "POST",
            f"{API}/auth/introspect",
            200,
            lambda data: data.get("active") is active,
            data={"token": token},
            auth=(client_id, secret),
            name=name,
        )

    @task(6)
    def me(self) -> None:
        if self.headers:
            self.read_me()

    @task(3)
    def notes_list(self) -> None:
        if self.headers:
            self.list_notes()

    @task(1)
    def note_create(self) -> None:
        if self.headers:
            self.create_note()

    @task(1)
    def introspected(self) -> None:
        if self.headers:
            self.introspect(self.headers, True, f"{API}/auth/introspect [live PAT]")

    @task(1)
    def replace_token(self) -> None:
        """Replace the token: a new one first, then the old one revoked and refused at once."""
        old_headers, old_id = self.headers, self.token_id
        self.log_in()
        if not self.headers or not old_headers or old_id is None:
            return
        self.expect(
            "DELETE",
            f"{API}/auth/tokens/{old_id}",
            204,
            headers=self.session,
            name=f"{API}/auth/tokens/{{id}}",
        )
        self.expect("GET", f"{API}/users/me", 401, headers=old_headers, name=f"{API}/users/me [revoked PAT]")
        self.introspect(old_headers, False, f"{API}/auth/introspect [revoked PAT]")

    @task(1)
    def sessions_refused(self) -> None:
        """A personal access token never manages sessions."""
        if not self.headers:
            return
        self.expect(
            "GET", f"{API}/auth/sessions", 403, headers=self.headers, name=f"{API}/auth/sessions [PAT]"
        )


class ManyTabs(_Account):
    """A browser-like client refreshing from several tabs at once: every tab gets the same new pair."""

    weight = 1
    wait_time = between(1.0, 3.0)
    tabs = 4

    def log_in(self) -> None:
        data = self.expect(
            "POST",
            f"{API}/auth/login",
            200,
            lambda data: "refresh_token" in data,
            json={"username": self.username, "password": PASSWORD},
            name=f"{API}/auth/login",
        )
        self.refresh = data["refresh_token"] if data else ""
        self.headers = {"Authorization": f"Bearer {data['access_token']}"} if data else {}

    @task
    def refresh_from_every_tab(self) -> None:
        if not self.refresh:
            self.log_in()
            return
        import gevent

        spent = self.refresh

        def one_tab() -> Any:
            return self.expect(
                "POST",
                f"{API}/auth/refresh",
                200,
                lambda data: data.get("refresh_token") not in (None, spent),
                json={"refresh_token": spent},
                name=f"{API}/auth/refresh [concurrent tabs]",
            )

        jobs = [gevent.spawn(one_tab) for _ in range(self.tabs)]
        gevent.joinall(jobs)
        tokens = [(job.value or {}).get("refresh_token") for job in jobs]
        if None in tokens:
            self.log_in()  # the failures above are in the report
            return
        # The same claims: instances signing with different keys mid-rotation give the same
        # token under two signatures, and either refreshes. Other claims would be a fork.
        if len({str(token).split(".")[1] for token in tokens}) != 1:
            self.environment.events.request.fire(
                request_type="POST",
                name=f"{API}/auth/refresh [concurrent tabs: one successor]",
                response_time=0,
                response_length=0,
                exception=AssertionError("the tabs got different successors: the family forked"),
                context={},
            )
            self.log_in()
            return
        self.refresh = tokens[0]
        self.headers = {"Authorization": f"Bearer {jobs[0].value['access_token']}"}
        self.read_me()
