"""Processes the benchmark starts and measures: Redis, proxies, the service and the references."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"exited with status {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port}")


@dataclass
class Process:
    """A child process, stopped by its own pid when the benchmark ends."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    port: int | None = None
    popen: subprocess.Popen[bytes] | None = None
    cwd: Path = ROOT

    def start(self, log_dir: Path) -> Process:
        log = open(log_dir / f"{self.name}.log", "wb")  # noqa: SIM115 (lives as long as the process)
        self.popen = subprocess.Popen(
            self.argv, cwd=self.cwd, env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT
        )
        if self.port is not None:
            try:
                wait_for_port(self.port, timeout=90, process=self.popen)  # a loaded machine starts slowly
            except RuntimeError as error:
                lines = (log_dir / f"{self.name}.log").read_text(errors="replace").strip().splitlines()
                raise RuntimeError(f"{self.name}: {error}: {lines[-1] if lines else 'no output'}") from None
        return self

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(15)
        except subprocess.TimeoutExpired:
            for child in psutil.Process(self.popen.pid).children(recursive=True):
                child.kill()
            self.popen.kill()
            self.popen.wait()

    def tree(self) -> list[psutil.Process]:
        assert self.popen is not None
        parent = psutil.Process(self.popen.pid)
        return [parent, *parent.children(recursive=True)]

    def cpu_seconds(self) -> float:
        """User plus system CPU of the process and all its children so far (/proc/<pid>/stat)."""
        total = 0.0
        for proc in self.tree():
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def settle(self, timeout: float = 30.0, busy: float = 0.1) -> None:
        """Wait until the process tree is idle (below ``busy`` of a core), at most ``timeout`` seconds.

        When wrk stops, requests of its last connections may still be queued
        in the server (thousands at 2,048 connections): they would be served
        during the next target's run and slow it.
        """
        deadline = time.monotonic() + timeout
        last = self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(0.25)
            now = self.cpu_seconds()
            if now - last < 0.25 * busy:
                return
            last = now

    def rss_mb(self) -> float:
        """Resident memory of the process tree, in MiB (shared pages counted once per process)."""
        total = 0
        for proc in self.tree():
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total / 2**20


def redis_server(work: Path) -> Process:
    port = free_port()
    binary = shutil.which("redis-server") or "redis-server"
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    return Process("redis", [*argv, "--dir", str(work)], port=port)


def proxy(name: str, target_port: int, delay_ms: float) -> Process:
    port = free_port()
    argv = [PY, "bench/proxy.py", str(port), f"127.0.0.1:{target_port}", str(delay_ms)]
    return Process(name, argv, port=port)


def hypercorn(name: str, app: str, env: dict[str, str]) -> Process:
    port = free_port()
    argv = [PY, "serve.py", app]
    return Process(name, argv, env={**env, "PORT": str(port)}, port=port)


def baseline(name: str, commit: str, work: Path, env: dict[str, str]) -> Process:
    """The service as of ``commit`` (e.g. before a change), unpacked under ``work``, with ``env``."""
    tree = work / f"baseline-{commit}"
    tree.mkdir()
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    port = free_port()
    argv = [PY, "serve.py", "asgi:app"]
    return Process(name, argv, env={**env, "PORT": str(port), "PYTHONPATH": str(tree)}, port=port, cwd=tree)


def gunicorn(name: str, app: str, env: dict[str, str], workers: int = 4) -> Process:
    port = free_port()
    argv = [
        PY,
        "-m",
        "gunicorn",
        "-w",
        str(workers),
        "-b",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        app,
    ]
    return Process(name, argv, env=env, port=port)


def uvicorn(name: str, app: str, env: dict[str, str], workers: int) -> Process:
    """uvicorn with uvloop and httptools, as a FastAPI deployment runs it."""
    port = free_port()
    argv = [PY, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    argv += ["--loop", "uvloop", "--http", "httptools", "--log-level", "warning"]
    return Process(name, argv, env=env, port=port)


def call(
    url: str, method: str = "GET", body: dict | None = None, token: str | None = None
) -> tuple[int, dict]:
    """One JSON request with the standard library: (status, parsed body or {})."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw) if raw else {}
    except ValueError:
        return status, {}


def wait_until_ready(base: str, path: str = "/healthz", timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if call(base + path)[0] < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{base}{path} never answered")
