"""Session ids: 64 bits now, and the 128-bit ids of sessions started before still work."""

from __future__ import annotations

import asyncio

import jwt
import pytest
from redis.asyncio import Redis

from config.settings import Settings
from service.auth.password_epochs import read_epoch
from service.auth.sessions import ClientInfo, end_session, list_sessions, start_session
from service.auth.tokens.jwts import decode_token, issue_token, new_id, new_session_id
from service.errors import Unauthorized
from service.users.keys import Account, new_account_key
from tests.support.processes import RedisServer
from tests.support.signing import default_key_path

ACCOUNT = Account(7, new_account_key())
CLIENT = ClientInfo("ids-agent/1.0", "192.0.2.7")


def _settings() -> Settings:
    return Settings(signing_keys=default_key_path())


def test_new_session_ids_are_16_hex_characters_and_distinct() -> None:
    ids = {new_session_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(sid) == 16 and int(sid, 16) >= 0 and sid == sid.lower() for sid in ids)


@pytest.mark.parametrize("session_id", [new_session_id(), new_id()], ids=["new", "before"])
def test_tokens_of_new_and_earlier_sessions_verify(session_id: str) -> None:
    token, claims = issue_token(_settings(), account=ACCOUNT, session_id=session_id, token_type="access")
    assert decode_token(_settings(), token, token_type="access") == claims
    assert claims.session_id == session_id


@pytest.mark.parametrize("session_id", ["0" * 15, "0" * 20, "A" * 16, "0" * 16 + "\n", "g" * 16])
def test_a_token_with_an_id_of_another_shape_is_refused(session_id: str) -> None:
    token, _ = issue_token(_settings(), account=ACCOUNT, session_id=session_id, token_type="access")
    assert jwt.decode(token, options={"verify_signature": False})["sid"] == session_id
    with pytest.raises(Unauthorized):
        decode_token(_settings(), token, token_type="access")


def test_sessions_of_both_id_lengths_are_listed_and_ended_by_their_ids(private_redis: RedisServer) -> None:
    async def scenario() -> None:
        redis = Redis.from_url(private_redis.url, decode_responses=True)
        try:
            ids = [new_id(), new_session_id()]
            for session_id in ids:
                epoch = await read_epoch(redis, "ids")
                await start_session(
                    redis,
                    session_id=session_id,
                    account=ACCOUNT,
                    ttl=60,
                    limit=10,
                    client=CLIENT,
                    epoch=epoch,
                )
            listed = await list_sessions(redis, ACCOUNT)
            assert [(s.id, s.ip, s.user_agent) for s in listed] == [
                (sid, "192.0.2.7", "ids-agent/1.0") for sid in ids
            ]
            assert await end_session(redis, account=ACCOUNT, session_id=ids[0])
            assert [s.id for s in await list_sessions(redis, ACCOUNT)] == ids[1:]
        finally:
            await redis.aclose()

    asyncio.run(scenario())
