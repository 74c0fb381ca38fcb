"""A loopback Redis Cluster of six redis-server processes: three masters, three replicas.

Importable (the tests and the bench start one with ``RedisCluster6(directory).start()``)
and runnable::

    python scripts/redis_cluster.py start var/cluster   # prints the REDIS_URL
    python scripts/redis_cluster.py stop var/cluster

The nodes listen on free loopback ports, keep no data on disk (no RDB, no AOF: a test
cluster), and are joined with ``redis-cli --cluster create ... --cluster-replicas 1``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.cluster import RedisCluster as RedisClusterClient
from redis.exceptions import RedisError

HOST = "127.0.0.1"
NODE_COUNT = 6
STATE_FILE = "cluster.json"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"redis cluster: gave up waiting for {what} after {timeout:.0f} s")


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed: apt-get install redis-server redis-tools")
    return found


@dataclass
class ClusterNode:
    """One redis-server in cluster mode; it keeps its nodes.conf, so a restart rejoins the cluster."""

    port: int
    bus_port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    pid: int | None = None

    def command(self, node_timeout_ms: int) -> list[str]:
        return [
            _binary("redis-server"),
            "--port", str(self.port),
            "--bind", HOST,
            # An explicit bus port: port + 10000 may be past 65535 or taken.
            "--cluster-port", str(self.bus_port),
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(node_timeout_ms),
            "--dir", str(self.directory),
            "--save", "", "--appendonly", "no",
            "--repl-diskless-sync-delay", "0",
            "--logfile", "redis.log",
        ]  # fmt: skip

    def client(self, timeout: float = 1.0) -> redis.Redis:
        return redis.Redis(host=HOST, port=self.port, socket_timeout=timeout, decode_responses=True)

    def answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except RedisError:
            return False

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return self.pid is not None and _pid_alive(self.pid)

    def signal(self, number: int) -> None:
        if self.pid is not None and self.alive():
            os.kill(self.pid, number)

    def wait_gone(self, timeout: float = 10.0) -> None:
        if self.process is not None:
            self.process.wait(timeout)
            self.process = None
        elif self.pid is not None:
            _wait_until(lambda: not _pid_alive(self.pid or 0), timeout, f"redis-server {self.port} to exit")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers signal 0: reap it if it is ours.
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == 0


@dataclass
class RedisCluster6:
    """Six loopback nodes in ``directory``: start, inspect, kill and restart them, stop."""

    directory: Path
    node_timeout_ms: int = 3000
    nodes: list[ClusterNode] = field(default_factory=list)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"{HOST}:{node.port}" for node in self.nodes[:3])

    def start(self, *, detach: bool = False) -> str:
        """Start six nodes, join them into a cluster and wait until it is ok everywhere."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.nodes = []
        for index in range(NODE_COUNT):
            node_dir = self.directory / f"node{index}"
            node_dir.mkdir(exist_ok=True)
            (node_dir / "nodes.conf").unlink(missing_ok=True)
            self.nodes.append(ClusterNode(_free_port(), _free_port(), node_dir))
        try:
            for node in self.nodes:
                self._spawn(node, detach=detach)
            for node in self.nodes:
                _wait_until(node.answers, 20, f"redis-server on port {node.port}")
            subprocess.run(
                [
                    _binary("redis-cli"), "--cluster", "create",
                    *(f"{HOST}:{node.port}" for node in self.nodes),
                    "--cluster-replicas", "1", "--cluster-yes",
                ],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60,
            )  # fmt: skip
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        self._save_state()
        return self.url

    def _spawn(self, node: ClusterNode, *, detach: bool) -> None:
        node.process = subprocess.Popen(
            node.command(self.node_timeout_ms),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=detach,
        )
        node.pid = node.process.pid

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Wait until every live node says ``cluster_state:ok`` and every master has an online replica."""
        _wait_until(self._healthy, timeout, "cluster_state:ok on every node with three replicas in sync")

    def _healthy(self) -> bool:
        live = [node for node in self.nodes if node.alive()]
        try:
            for node in live:
                info = node.client().execute_command("CLUSTER INFO")
                if info.get("cluster_state") != "ok" or int(info.get("cluster_known_nodes", 0)) != NODE_COUNT:
                    return False
            masters = self.master_ports()
            replicas_up = 0
            for node in live:
                replication = node.client().info("replication")
                if replication.get("role") == "slave" and replication.get("master_link_status") == "up":
                    replicas_up += 1
            if len(masters) != 3 or replicas_up != len(live) - 3:
                return False
            # A client learns the replicas from CLUSTER SLOTS, which lists one only
            # once gossip has told that node the replica's role: a link being up is not enough.
            return all(
                len(entry) - 2 >= 1 + (len(live) == NODE_COUNT)
                for node in live
                for entry in node.client().execute_command("CLUSTER SLOTS")
            )
        except RedisError:
            return False

    def _topology(self) -> dict[str, dict[str, object]]:
        """CLUSTER NODES (address to flags and slots) as seen by the first live node that answers."""
        for node in self.nodes:
            if node.alive():
                try:
                    return dict(node.client().execute_command("CLUSTER NODES"))
                except RedisError:
                    continue
        raise RuntimeError("redis cluster: no node answers")

    def master_ports(self) -> list[int]:
        """The ports of the live masters, as the cluster sees them now."""
        ports = []
        for address, entry in self._topology().items():
            flags = str(entry["flags"])
            if "master" in flags and "fail" not in flags and entry["slots"]:
                ports.append(int(address.rsplit(":", 1)[1]))
        return sorted(ports)

    def node(self, port: int) -> ClusterNode:
        return next(node for node in self.nodes if node.port == port)

    def master_for_key(self, key: str) -> int:
        """The port of the master that owns ``key``'s slot now."""
        client = RedisClusterClient(host=HOST, port=self.master_ports()[0], socket_timeout=1)
        try:
            return int(client.get_node_from_key(key).port)
        finally:
            client.close()

    def kill(self, port: int) -> None:
        """SIGKILL one node: the machine died, nothing is flushed or handed over."""
        node = self.node(port)
        node.signal(signal.SIGKILL)
        node.wait_gone()

    def kill_master(self, port: int | None = None) -> int:
        """SIGKILL a master (the first one if none is named) and return its port."""
        victim = port if port is not None else self.master_ports()[0]
        self.kill(victim)
        return victim

    def wait_failover(self, old_master: int, timeout: float = 60.0) -> None:
        """Wait until a replica has taken over the killed master's slots and the cluster is ok."""

        def promoted() -> bool:
            try:
                ports = self.master_ports()
                ok = all(
                    self.node(p).client().execute_command("CLUSTER INFO").get("cluster_state") == "ok"
                    for p in ports
                )
            except (RedisError, RuntimeError):
                return False
            return ok and old_master not in ports and len(ports) == 3

        _wait_until(promoted, timeout, f"a replica to take over from the master on port {old_master}")

    def restart(self, port: int) -> None:
        """Start a killed node again: with its nodes.conf it rejoins, as a replica if it was replaced."""
        node = self.node(port)
        self._spawn(node, detach=False)
        _wait_until(node.answers, 20, f"redis-server on port {port}")
        if (self.directory / STATE_FILE).exists():
            self._save_state()

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL after 10 s)."""
        for node in self.nodes:
            node.signal(signal.SIGTERM)
        for node in self.nodes:
            try:
                node.wait_gone(10)
            except (subprocess.TimeoutExpired, TimeoutError):
                node.signal(signal.SIGKILL)
                node.wait_gone(10)
        (self.directory / STATE_FILE).unlink(missing_ok=True)

    def _save_state(self) -> None:
        state = {
            "url": self.url,
            "nodes": [{"port": n.port, "bus_port": n.bus_port, "pid": n.pid} for n in self.nodes],
        }
        (self.directory / STATE_FILE).write_text(json.dumps(state))

    @classmethod
    def from_state(cls, directory: Path) -> RedisCluster6:
        """The cluster a ``start`` command left running in ``directory``."""
        state = json.loads((directory / STATE_FILE).read_text())
        nodes = [
            ClusterNode(n["port"], n["bus_port"], directory / f"node{i}", pid=n["pid"])
            for i, n in enumerate(state["nodes"])
        ]
        return cls(directory, nodes=nodes)


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in {"start", "stop"}:
        print("usage: python scripts/redis_cluster.py start|stop DIRECTORY", file=sys.stderr)
        return 2
    directory = Path(argv[2])
    if argv[1] == "start":
        if (directory / STATE_FILE).exists():
            print(RedisCluster6.from_state(directory).url)
            print(f"redis cluster: already running (stop: {argv[0]} stop {directory})", file=sys.stderr)
            return 0
        try:
            print(RedisCluster6(directory).start(detach=True))
        except (RuntimeError, TimeoutError, subprocess.CalledProcessError) as error:
            detail = getattr(error, "stderr", b"") or b""
            print(f"redis cluster: {error} {detail.decode(errors='replace').strip()}", file=sys.stderr)
            return 1
        return 0
    if not (directory / STATE_FILE).exists():
        print(f"redis cluster: nothing started in {directory}", file=sys.stderr)
        return 0
    RedisCluster6.from_state(directory).stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
