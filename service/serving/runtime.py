"""What one serving process opens once, on the server's event loop, and closes at stop."""

from __future__ import annotations

import asyncio
import functools
from typing import cast

from cryptography.fernet import MultiFernet
from flask import current_app
from redis.asyncio import Redis

from config.settings import Settings
from service.auth.mfa.keys import load_mfa_cipher
from service.auth.passwords import PasswordHasher
from service.db import Database
from service.mail.queue import MailBroker, build_broker
from service.mail.settings import MailSettings
from service.redis import BridgedRedis, create_redis


class Runtime:
    """The engine, the Redis pool and the password hasher of one process.

    A pooled async engine or Redis connection must never be used from a loop
    other than the one that opened it, so ``current`` refuses that outright
    instead of failing later in the driver.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop: asyncio.AbstractEventLoop | None = None
        self.opened = 0
        self._db: Database | None = None
        self._redis: Redis | None = None
        self._passwords: PasswordHasher | None = None
        self._mail: MailBroker | None = None  # only queues mail; the worker delivers it
        # Flask-Session's client: its calls go through the bridge to the async pool.
        self.cookie_record_redis = BridgedRedis(lambda: self.redis)

    async def open(self) -> None:
        from service.auth.tokens.jwts import signer_for  # auth builds on this module

        signer_for(self.settings)  # read the signing keys now: a bad file fails the start, not a login
        self.loop = asyncio.get_running_loop()
        self._db = Database(self.settings)
        self._redis = create_redis(self.settings)
        self._passwords = PasswordHasher(self.settings.bcrypt_rounds, self.settings.bcrypt_threads)
        await self._passwords.warm_up()
        self._mail = build_broker(MailSettings.from_settings(self.settings))
        self.opened += 1

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
        if self._db is not None:
            await self._db.close()
        if self._passwords is not None:
            self._passwords.close()
        if self._mail is not None:
            await self._mail.close()
        self.cookie_record_redis.close()
        self._db = self._redis = self._passwords = self._mail = None
        self.loop = None

    @functools.cached_property
    def mfa_cipher(self) -> MultiFernet:
        """Encrypts and decrypts TOTP secrets (MFA_ENCRYPTION_KEYS); the app factory builds it at once."""
        return load_mfa_cipher(self.settings)

    @property
    def db(self) -> Database:
        self._check_loop()
        assert self._db is not None
        return self._db

    @property
    def redis(self) -> Redis:
        self._check_loop()
        assert self._redis is not None
        return self._redis

    @property
    def passwords(self) -> PasswordHasher:
        self._check_loop()
        assert self._passwords is not None
        return self._passwords

    @property
    def mail(self) -> MailBroker:
        self._check_loop()
        assert self._mail is not None
        return self._mail

    def _check_loop(self) -> None:
        if self.loop is None:
            raise RuntimeError("The service is not started: serve it through asgi.py (ASGI lifespan).")
        if asyncio.get_running_loop() is not self.loop:
            raise RuntimeError("Pools used from a foreign event loop; serve the app through asgi.py.")


def current() -> Runtime:
    """The runtime of the app handling this request."""
    return cast(Runtime, current_app.extensions["service.runtime"])


def settings() -> Settings:
    """The settings of the app handling this request."""
    return current().settings
