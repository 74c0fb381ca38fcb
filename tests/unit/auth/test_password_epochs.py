"""A login racing a password change: the session is refused if the password changed meanwhile.

The race itself needs a login paused between its password check and its
session; the data functions are driven in that order here, against a real
Redis, instead of hoping the timing lines up over HTTP.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from redis.asyncio import Redis

from service.auth.password_epochs import PasswordEpoch, bump_epoch, epoch_key, read_epoch
from service.auth.session_keys import index_key
from service.auth.sessions import ClientInfo, start_session
from service.auth.tokens.jwts import new_id
from service.errors import Unauthorized
from service.users.keys import Account, new_account_key
from tests.factories import PASSWORD, logged_in_user
from tests.support.processes import RedisServer

CLIENT = ClientInfo("test-agent", "127.0.0.1")
ACCOUNT = Account(7, new_account_key())


async def _start(redis: Redis, epoch: PasswordEpoch) -> None:
    await start_session(
        redis, session_id=new_id(), account=ACCOUNT, ttl=60, limit=10, client=CLIENT, epoch=epoch
    )


def test_a_login_that_checked_the_old_password_opens_no_session(private_redis: RedisServer) -> None:
    async def scenario() -> None:
        redis = Redis.from_url(private_redis.url, decode_responses=True)
        try:
            epoch = await read_epoch(redis, "Alice")  # the login starts checking the old password
            await bump_epoch(redis, "alice")  # the password changes meanwhile
            with pytest.raises(Unauthorized):
                await _start(redis, epoch)
            assert await redis.zcard(index_key(ACCOUNT)) == 0
            await _start(redis, await read_epoch(redis, "ALICE"))  # a login after the change
            assert await redis.zcard(index_key(ACCOUNT)) == 1
        finally:
            await redis.aclose()

    asyncio.run(scenario())


def test_a_password_change_bumps_the_epoch(client: httpx.Client, redis_url: str) -> None:
    account = logged_in_user(client)
    store = Redis.from_url(redis_url, decode_responses=True)
    change = {"current_password": PASSWORD, "new_password": "a whole new password"}
    assert client.put("/api/v1/users/me/password", json=change, headers=account.auth).status_code == 204

    async def epoch() -> str | None:
        try:
            return await store.get(epoch_key(account.username))
        finally:
            await store.aclose()

    assert asyncio.run(epoch()) == "1"
