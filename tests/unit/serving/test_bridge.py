"""Flask's sync layer on the event loop, in the greenlet bridge, over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextvars import ContextVar

import httpx
import pytest

from config.setting_errors import SettingsError
from config.settings import Settings
from service.serving.bridge import run_bridged, wait_for
from tests.factories import Account, logged_in_user
from tests.support.live import LiveServer

ME = "/api/v1/users/me"


async def _interleaved(url: str, accounts: list[Account], rounds: int) -> list[tuple[str, str]]:
    """(expected, answered) usernames for many concurrent requests of several users."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:

        async def me(account: Account) -> tuple[str, str]:
            response = await http.get(ME, headers=account.auth)
            return account.username, response.json().get("username", "")

        return await asyncio.gather(*(me(account) for _ in range(rounds) for account in accounts))


def test_concurrent_requests_each_see_their_own_request(make_server: Callable[..., LiveServer]) -> None:
    # Flask's request context lives in context variables; on the loop every
    # request's greenlet shares its own task's context, never another's.
    server = make_server()
    with httpx.Client(base_url=server.url) as client:
        accounts = [logged_in_user(client) for _ in range(4)]

    answers = asyncio.run(_interleaved(server.url, accounts, 50))

    assert len(answers) == 200
    assert all(expected == answered for expected, answered in answers)


def test_errors_raised_in_an_awaited_view_reach_the_problem_handler(
    make_server: Callable[..., LiveServer],
) -> None:
    server = make_server()
    with httpx.Client(base_url=server.url) as client:
        response = client.get(ME, headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_wait_for_outside_the_bridge_is_refused() -> None:
    async def answer() -> int:
        return 42

    with pytest.raises(RuntimeError, match="outside run_bridged"):
        wait_for(answer())


def test_the_bridge_awaits_and_throws_into_the_synchronous_code() -> None:
    async def fail() -> None:
        raise ValueError("from the coroutine")

    def sync_layer() -> str:
        first = wait_for(asyncio.sleep(0, result="slept"))
        try:
            wait_for(fail())
        except ValueError as error:
            return f"{first}, caught {error}"
        return "not raised"

    assert asyncio.run(run_bridged(sync_layer)) == "slept, caught from the coroutine"


def test_calls_after_a_failed_one_run_in_their_own_context_and_raise_their_own_errors() -> None:
    # The bridge reuses its greenlets: nothing of one call may reach the next.
    seen: ContextVar[str] = ContextVar("seen", default="unset")

    def sync_layer(name: str) -> str:
        value = wait_for(asyncio.sleep(0, result=seen.get()))
        if name == "fails":
            raise KeyError(name)
        return f"{name} saw {value}"

    async def call(name: str) -> str:
        seen.set(name)
        try:
            return await run_bridged(sync_layer, name)
        except KeyError as error:
            return f"raised {error}"

    async def scenario() -> list[str]:
        return list(await asyncio.gather(*(call(name) for name in ("a", "fails", "b", "c"))))

    assert asyncio.run(scenario()) == ["a saw a", "raised 'fails'", "b saw b", "c saw c"]
    assert asyncio.run(scenario()) == ["a saw a", "raised 'fails'", "b saw b", "c saw c"]


def test_an_unknown_worker_class_is_refused() -> None:
    with pytest.raises(SettingsError, match="WORKER_CLASS"):
        Settings.from_env({"WORKER_CLASS": "trio"})
