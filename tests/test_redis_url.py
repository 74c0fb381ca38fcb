"""REDIS_URL may name a Sentinel-managed master; a malformed one stops the service at start."""

from __future__ import annotations

import pytest

from config.redis_url import SentinelTarget, parse_sentinel_url
from config.settings import Settings, SettingsError


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "redis+sentinel://10.0.0.1:26379,10.0.0.2:26380/service-master",
            SentinelTarget([("10.0.0.1", 26379), ("10.0.0.2", 26380)], "service-master"),
        ),
        (
            "redis+sentinel://:s%40cret@sentinel/mymaster/2",
            SentinelTarget([("sentinel", 26379)], "mymaster", db=2, password="s@cret"),
        ),
    ],
)
def test_a_sentinel_url_names_the_sentinels_service_db_and_password(
    url: str, expected: SentinelTarget
) -> None:
    assert parse_sentinel_url(url) == expected
    assert Settings.from_env({"REDIS_URL": url}).redis_url == url


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://10.0.0.1:26379",
        "redis+sentinel:///mymaster",
        "redis+sentinel://host:port/mymaster",
        "redis+sentinel://host:26379/mymaster/zero",
        "redis+sentinel://host:26379/mymaster/0/extra",
    ],
)
def test_a_malformed_sentinel_url_is_a_settings_error(url: str) -> None:
    with pytest.raises(SettingsError, match="REDIS_URL"):
        Settings.from_env({"REDIS_URL": url})


def test_replica_acknowledgements_need_a_positive_timeout() -> None:
    with pytest.raises(SettingsError, match="REDIS_REPLICA"):
        Settings.from_env({"REDIS_REPLICA_ACKS": "1", "REDIS_REPLICA_TIMEOUT": "0"})
