"""Settings for scaling out: a Sentinel REDIS_URL (malformed = settings error), replica acks, WORKERS=0."""

from __future__ import annotations

import os

import pytest

from config.redis_url import SentinelTarget, parse_sentinel_url
from config.setting_errors import SettingsError
from config.settings import Settings


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


def test_workers_zero_means_one_per_cpu_core() -> None:
    assert Settings.from_env({"WORKERS": "0"}).worker_count == len(os.sched_getaffinity(0))
    assert Settings.from_env({"WORKERS": "3"}).worker_count == 3
    with pytest.raises(SettingsError, match="WORKERS"):
        Settings.from_env({"WORKERS": "-1"})
