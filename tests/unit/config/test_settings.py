"""Settings come from the environment; production refuses a weak secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from config.setting_errors import SettingsError
from config.settings import DEV_SECRET, Settings
from tests.support.processes import ROOT

STRONG = "s" * 48


def test_every_setting_can_be_overridden_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "APP_ENV": "test",
            "DATABASE_URL": "postgresql+asyncpg://db/app",
            "REDIS_URL": "redis://cache:6380/2",
            "HOST": "0.0.0.0",
            "PORT": "9000",
            "WORKERS": "4",
            "BCRYPT_ROUNDS": "10",
            "ACCESS_TOKEN_TTL": "60",
            "REFRESH_TOKEN_TTL": "3600",
        }
    )
    assert (settings.database_url, settings.redis_url) == (
        "postgresql+asyncpg://db/app",
        "redis://cache:6380/2",
    )
    assert (settings.host, settings.port, settings.workers) == ("0.0.0.0", 9000, 4)
    assert (settings.bcrypt_rounds, settings.access_token_ttl, settings.refresh_token_ttl) == (10, 60, 3600)


def test_defaults_serve_locally_on_sqlite() -> None:
    settings = Settings.from_env({})
    assert settings.app_env == "development"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.is_sqlite
    assert settings.bcrypt_rounds == 12


@pytest.mark.parametrize(
    ("environ", "mentions"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"APP_ENV": "staging"}, "APP_ENV"),
        ({"BCRYPT_ROUNDS": "3"}, "BCRYPT_ROUNDS"),
        ({"ACCESS_TOKEN_TTL": "7200", "REFRESH_TOKEN_TTL": "60"}, "ACCESS_TOKEN_TTL"),
    ],
)
def test_invalid_values_are_named(environ: dict[str, str], mentions: str) -> None:
    with pytest.raises(SettingsError, match=mentions):
        Settings.from_env(environ)


@pytest.mark.parametrize("secret", [None, "", "short", DEV_SECRET])
def test_production_refuses_a_missing_short_or_default_secret(secret: str | None) -> None:
    environ = {"APP_ENV": "production"}
    if secret is not None:
        environ["SECRET_KEY"] = secret
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        Settings.from_env(environ)


def test_production_accepts_a_strong_secret() -> None:
    assert Settings.from_env(
        {"APP_ENV": "production", "SECRET_KEY": STRONG, "SIGNING_KEYS": "k.pem"}
    ).is_production


def test_production_refuses_to_start_without_signing_keys() -> None:
    with pytest.raises(SettingsError, match=r"^SIGNING_KEYS must be set when APP_ENV=production"):
        Settings.from_env({"APP_ENV": "production", "SECRET_KEY": STRONG})


def test_the_server_refuses_to_start_with_one_line_saying_what_to_set() -> None:
    environ = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "APP_ENV")}
    environ |= {"APP_ENV": "production", "PORT": "1"}
    result = subprocess.run(
        [sys.executable, "serve.py"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert json.loads(lines[0])["message"].startswith("configuration error: SECRET_KEY must be set")


def test_login_and_session_limits_come_from_the_environment_and_must_be_positive() -> None:
    environ = {
        "LOGIN_WINDOW": "60",
        "LOGIN_MAX_PER_ACCOUNT": "5",
        "LOGIN_MAX_PER_IP": "50",
        "MAX_SESSIONS_PER_USER": "7",
    }
    settings = Settings.from_env(environ)
    assert (settings.login_window, settings.login_max_per_account, settings.login_max_per_ip) == (60, 5, 50)
    assert settings.max_sessions_per_user == 7
    for name in environ:
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({**environ, name: "0"})


def test_no_repr_shows_the_secret_key_or_a_password_in_a_url() -> None:
    urls = {
        "DATABASE_URL": "postgresql+asyncpg://app:db-pass@db/app",
        "REDIS_URL": "redis+sentinel://:redis-pass@s1:26379,s2/mymaster",
    }
    settings = Settings.from_env({"SECRET_KEY": STRONG, **urls})
    shown = [repr(settings), str(settings), repr(settings.model_dump()), repr(settings.database_url)]
    shown += [repr(settings.redis_url), repr(settings.secret_key), str(settings.secret_key)]
    for text in shown:
        assert "db-pass" not in text and "redis-pass" not in text and STRONG not in text
    assert "postgresql+asyncpg://app:***@db/app" in repr(settings)
    # The code that connects and signs gets the whole values.
    assert (settings.database_url, settings.redis_url) == (urls["DATABASE_URL"], urls["REDIS_URL"])
    assert settings.secret_key.get_secret_value() == STRONG


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"WORKERS": "two"}, "WORKERS must be a whole number, not 'two'"),
        ({"GRACEFUL_TIMEOUT": "soon"}, "GRACEFUL_TIMEOUT must be a number, not 'soon'"),
        ({"DB_POOL_PRE_PING": "maybe"}, "DB_POOL_PRE_PING must be true or false, not 'maybe'"),
        ({"PORT": "99999"}, "PORT must be between 1 and 65535"),
        ({"LOGIN_WINDOW": "0"}, "LOGIN_WINDOW must be a positive number"),
        ({"WORKER_CLASS": "gevent"}, "WORKER_CLASS must be one of 'asyncio', 'uvloop', not 'gevent'"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, not 'loud'"),
        ({"REDIS_URL": "http://cache:6379"}, "REDIS_URL must start with redis://, rediss://, unix://"),
    ],
)
def test_each_error_reads_as_a_sentence(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env(environ)
    assert str(error.value).startswith(message)


def test_keywords_build_settings_without_reading_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9999")
    assert Settings(workers=3).port == 8000
    assert Settings.from_env().port == 9999
    with pytest.raises(SettingsError, match="WSGI_MODE is not a setting"):
        Settings(wsgi_mode="loop")  # type: ignore[call-arg]


def test_an_empty_variable_means_the_default() -> None:
    # docker-compose's ${NAME:-} passes an empty value for an unset one.
    settings = Settings.from_env({"PORT": "", "WORKERS": "", "DATABASE_URL": ""})
    assert (settings.port, settings.workers, settings.is_sqlite) == (8000, 1, True)
