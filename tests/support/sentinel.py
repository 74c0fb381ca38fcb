"""A real Redis master, replica and sentinel on free ports, for failover tests."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.processes import free_port, wait_until

SERVICE_NAME = "service-master"


class RedisProcess:
    """One redis-server (or sentinel) process that can be killed and started again."""

    def __init__(self, command: list[str], port: int, log: Path) -> None:
        self.command, self.port, self.log = command, port, log
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self, *extra: str) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([*self.command, *extra], stdout=log, stderr=subprocess.STDOUT)
        wait_until(self.answers, timeout=20)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=1, decode_responses=True)

    def answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL: the machine died, nothing is flushed or handed over."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a paused process cannot act on SIGTERM
            self.process.terminate()
            self.process.wait(10)


def _server_command(binary: str, port: int, directory: Path, *extra: str) -> list[str]:
    return [
        binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
        "--save", "", "--appendonly", "no",
        # Start a replica's full sync at once instead of after 5 s.
        "--repl-diskless-sync-delay", "0", *extra,
    ]  # fmt: skip


class SentinelCluster:
    """Master, one replica and one sentinel (quorum 1) that fails over within seconds."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: apt-get install redis-server")
        master_port, replica_port, sentinel_port = free_port(), free_port(), free_port()
        self.master = RedisProcess(
            _server_command(binary, master_port, _mkdir(directory / "a")), master_port, directory / "a.log"
        )
        self.replica = RedisProcess(
            _server_command(
                binary, replica_port, _mkdir(directory / "b"), "--replicaof", "127.0.0.1", str(master_port)
            ),
            replica_port,
            directory / "b.log",
        )
        wait_until(self._replica_online, timeout=20)
        config = directory / "sentinel.conf"  # sentinel rewrites it: it must be its own file
        config.write_text(
            f"port {sentinel_port}\nbind 127.0.0.1\ndir {directory}\n"
            f"sentinel monitor {SERVICE_NAME} 127.0.0.1 {master_port} 1\n"
            # Long enough that a loaded test machine's pause is not taken for
            # a dead master (a spurious failover), short enough for a quick test.
            f"sentinel down-after-milliseconds {SERVICE_NAME} 3000\n"
            f"sentinel failover-timeout {SERVICE_NAME} 5000\n"
            f"sentinel parallel-syncs {SERVICE_NAME} 1\n"
        )
        sentinel_binary = shutil.which("redis-sentinel")
        command = [sentinel_binary, str(config)] if sentinel_binary else [binary, str(config), "--sentinel"]
        self.sentinel = RedisProcess(command, sentinel_port, directory / "sentinel.log")
        wait_until(lambda: len(self.sentinel.client().sentinel_slaves(SERVICE_NAME)) == 1, timeout=30)
        self.url = f"redis+sentinel://127.0.0.1:{sentinel_port}/{SERVICE_NAME}/0"

    def _replica_online(self) -> bool:
        replication = self.master.client().info("replication")
        return replication.get("slave0", {}).get("state") == "online"

    def master_port(self) -> int:
        _host, port = self.sentinel.client().sentinel_get_master_addr_by_name(SERVICE_NAME)
        return int(port)

    def restart_old_master_as_replica(self) -> None:
        """Bring the killed master back as a replica of the promoted one, as an operator would."""
        self.master.start("--replicaof", "127.0.0.1", str(self.master_port()))

    def stop(self) -> None:
        for process in (self.sentinel, self.replica, self.master):
            process.stop()


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--redis-sentinel",
        action="store_true",
        help="run against a Sentinel-managed master (with a replica) started for the session",
    )


@pytest.fixture(scope="session")
def redis_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelCluster]:
    """Master, replica and sentinel shared by the test session (never failed over)."""
    cluster = SentinelCluster(tmp_path_factory.mktemp("redis-sentinel"))
    yield cluster
    cluster.stop()


@pytest.fixture
def sentinel_cluster(tmp_path: Path) -> Iterator[SentinelCluster]:
    """A fresh master + replica + sentinel for one test (failover tests change it)."""
    cluster = SentinelCluster(tmp_path / "sentinel")
    yield cluster
    cluster.stop()
