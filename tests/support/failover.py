"""Traffic and probes for the Redis failover tests: a revoked token must never pass, and logouts come back."""

from __future__ import annotations

import threading
from collections import Counter

import httpx

from tests.factories import Account, logged_in_user

ME = "/api/v1/users/me"
LOGOUT = "/api/v1/auth/logout"


class Traffic:
    """Requests in a loop on another thread: revoked tokens must never pass."""

    def __init__(self, url: str, revoked: list[Account], live: list[Account]) -> None:
        self.url, self.revoked, self.live = url, revoked, live
        self.accepted_revoked: list[int] = []
        self.statuses: Counter[int] = Counter()
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._requests()
        except BaseException as error:  # reported by the test, not lost with the thread
            self.errors.append(error)

    def _requests(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                for account in self.revoked:
                    status = client.get(ME, headers=account.auth).status_code
                    self.statuses[status] += 1
                    if status == 200:
                        self.accepted_revoked.append(account.id)
                for account in self.live:
                    self.statuses[client.get(ME, headers=account.auth).status_code] += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)


def logs_out(client: httpx.Client) -> bool:
    """Whether a fresh login's logout is acknowledged again; once it is, its token must be refused."""
    account = logged_in_user(client)
    if client.post(LOGOUT, headers=account.auth).status_code != 204:
        return False
    assert client.get(ME, headers=account.auth).status_code == 401
    return True
