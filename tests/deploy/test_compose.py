"""docker-compose.yml, checked without Docker: it is coherent, and it runs what the tests run.

No Docker engine runs here, so the file is parsed; each command it gives a
container is compared with the one the tests use, and where it can be, run.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from config.settings import Settings
from tests.support.instances import SERVE_COMMAND
from tests.support.live import LiveServer
from tests.support.nginx import CONFIG as NGINX_CONFIG_TESTED
from tests.support.processes import ROOT, free_port, wait_until

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
VARIABLE = re.compile(r"\$\{(\w+)(?::?[-?][^{}]*)?\}")  # innermost first: defaults may nest


def _interpolate(value: str, environ: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, nested too, enough for this file."""

    def one(match: re.Match[str]) -> str:
        name, rest = match.group(1), match.group(0)[len(match.group(1)) + 2 : -1]
        if name in environ:
            return environ[name]
        if rest.startswith((":-", "-")):
            return rest.split("-", 1)[1]
        raise AssertionError(f"{name} is not set and has no default")

    while VARIABLE.search(value):
        value = VARIABLE.sub(one, value)
    return value


def _example_env() -> dict[str, str]:
    """.env.example with every secret filled in, as an operator would."""
    values: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip() or "x" * 48
    return values


def _bind_sources(service: dict[str, Any]) -> list[str]:
    return [volume.split(":")[0] for volume in service.get("volumes", []) if volume.startswith(".")]


def test_every_service_it_depends_on_and_every_named_volume_is_defined() -> None:
    cluster = {f"redis-node-{n}" for n in range(1, 7)} | {"redis-cluster-create"}
    assert (
        set(SERVICES) == {"redis", "postgres", "migrate", "app", "nginx", "mail-worker", "mailpit"} | cluster
    )
    for name, service in SERVICES.items():
        assert set(service.get("depends_on", {})) <= set(SERVICES), name
        named = [v.split(":")[0] for v in service.get("volumes", []) if not v.startswith((".", "/"))]
        assert set(named) <= set(COMPOSE.get("volumes", {})), name


def test_every_long_running_service_has_a_health_check_and_dependents_wait_for_it() -> None:
    for name, service in SERVICES.items():
        if service.get("restart") == "no":
            continue  # one-shot: the app waits for its successful exit instead
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
    assert SERVICES["app"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert SERVICES["nginx"]["depends_on"]["app"]["condition"] == "service_healthy"


def test_every_file_it_uses_exists_and_secrets_stay_out_of_git() -> None:
    for name, service in SERVICES.items():
        for source in _bind_sources(service):
            assert (ROOT / source).is_file(), f"{name} mounts {source}, which does not exist"
        if "build" in service:
            assert (ROOT / service["build"] / "Dockerfile").is_file()
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY"):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which does not exist"
    assert SERVICES["app"]["env_file"] == ".env"
    assert (ROOT / ".env.example").is_file()
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert ".env" in (ROOT / ".dockerignore").read_text().split()
    required = set(re.findall(r"\$\{(\w+):\?", (ROOT / "docker-compose.yml").read_text()))
    assert required <= set(_example_env()), "a required variable is missing from .env.example"


def test_the_app_environment_is_valid_settings() -> None:
    environment = SERVICES["app"]["environment"]
    fields = {name.upper() for name in Settings.model_fields}
    assert set(environment) <= fields, "an environment variable the settings do not read"
    env = _example_env()
    values = {name: _interpolate(str(value), env) for name, value in environment.items()}
    settings = Settings.from_env(values | {"SECRET_KEY": env["SECRET_KEY"]})
    assert settings.is_production and settings.is_postgres
    assert settings.trusted_proxies == 1  # exactly one proxy: nginx
    assert settings.workers == 0  # one hypercorn worker per core
    assert settings.smtp_url == "smtp://mailpit:1025"  # production needs a relay: Mailpit by default
    assert SERVICES["mail-worker"]["command"] == ["python", "-m", "service.mail.worker"]


def test_the_app_and_the_image_serve_with_the_command_the_tests_run() -> None:
    serve = ["python", *SERVE_COMMAND]
    assert SERVICES["app"]["command"] == serve
    cmd = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD "))
    assert yaml.safe_load(cmd.removeprefix("CMD ")) == serve


def test_the_migrate_service_runs_make_migrate_and_it_builds_the_schema(tmp_path: Path) -> None:
    command = SERVICES["migrate"]["command"]
    recipe = re.search(r"^migrate:.*\n\t(.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert recipe is not None
    assert shlex.split(recipe.group(1).replace("$(PY)", "python")) == command
    database = tmp_path / "fresh.db"
    environ = os.environ | {"DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    subprocess.run([sys.executable, *command[1:]], cwd=ROOT, env=environ, check=True, capture_output=True)
    with sqlite3.connect(database) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "users" in tables


def test_the_app_health_check_passes_on_a_serving_instance_and_fails_without_one(
    make_server: Callable[..., LiveServer],
) -> None:
    command = SERVICES["app"]["healthcheck"]["test"]
    assert command[:2] == ["CMD", "python"]
    server = make_server()

    def check(port: int) -> int:
        environ = os.environ | {"PORT": str(port)}
        return subprocess.run([sys.executable, *command[2:]], cwd=ROOT, env=environ).returncode

    assert check(server.port) == 0
    assert check(free_port()) == 1


def test_redis_runs_with_its_config_persistent_and_never_evicting(tmp_path: Path) -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed")
    service = SERVICES["redis"]
    config_in_container = service["command"][1]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"] if v.startswith(".")}
    config = ROOT / mounted[config_in_container]
    port = free_port()
    process = subprocess.Popen(
        [binary, str(config), "--requirepass", "secret", "--port", str(port), "--bind", "127.0.0.1",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        client = redis.Redis(port=port, password="secret", decode_responses=True)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_until(answers)
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "always"}
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        client.close()
    finally:
        process.terminate()
        process.wait(10)


def test_nginx_runs_the_config_the_nginx_tests_run() -> None:
    assert _bind_sources(SERVICES["nginx"]) == ["./config/nginx.conf"]
    assert ROOT / "config" / "nginx.conf" == NGINX_CONFIG_TESTED


def test_the_cluster_profile_joins_six_nodes_and_the_app_can_be_pointed_at_them() -> None:
    nodes = [SERVICES[f"redis-node-{n}"] for n in range(1, 7)]
    for n, node in enumerate(nodes, start=1):
        assert node["profiles"] == ["cluster"]
        command = node["command"]
        assert command[1] == SERVICES["redis"]["command"][1]  # the same persistent, never-evicting config
        assert command[command.index("--cluster-enabled") + 1] == "yes"
        assert (
            command[command.index("--cluster-announce-hostname") + 1] == node["hostname"] == f"redis-node-{n}"
        )
    create = SERVICES["redis-cluster-create"]
    assert "--cluster-replicas 1" in create["command"][0] and create["restart"] == "no"
    assert set(create["depends_on"]) == {f"redis-node-{n}" for n in range(1, 7)}
    waits = SERVICES["app"]["depends_on"]["redis-cluster-create"]
    assert waits == {"condition": "service_completed_successfully", "required": False}
    # With the lines docs/deployment.md gives for .env, the app's settings are valid.
    env = _example_env() | {
        "REDIS_URL": "redis+cluster://:pw@redis-node-1:6379,redis-node-2:6379,redis-node-3:6379",
        "MAIL_QUEUE_REDIS_URL": "redis://:pw@redis:6379/0",
    }
    environment = SERVICES["app"]["environment"]
    values = {name: _interpolate(str(value), env) for name, value in environment.items()}
    settings = Settings.from_env(values | {"SECRET_KEY": env["SECRET_KEY"]})
    assert settings.redis_url.startswith("redis+cluster://")
    assert settings.mail_queue_redis_url == "redis://:pw@redis:6379/0"
