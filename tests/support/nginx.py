"""The real nginx, running config/nginx.conf with test ports and paths, in front of test instances."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import ROOT, free_port, wait_until

CONFIG = ROOT / "config" / "nginx.conf"
UPSTREAM_LINE = re.compile(r"^(\s*)server app:8000 (.*);$", re.MULTILINE)
LISTEN_LINE = re.compile(r"^(\s*)listen 80;$", re.MULTILINE)
ACCESS_LOG = re.compile(r"access_log /var/log/nginx/access.log")


def nginx_binary() -> str:
    """The nginx executable, installed by ``make ensure-nginx`` when missing."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    found = shutil.which("nginx", path=search)
    if found is None:
        subprocess.run(["make", "-s", "ensure-nginx"], cwd=ROOT, check=False)
        found = shutil.which("nginx", path=search)
    if found is None:
        pytest.fail("nginx is not installed and 'make ensure-nginx' could not install it")
    return found


def render_config(upstreams: list[str], port: int, directory: Path) -> str:
    """config/nginx.conf with these upstreams, this port and every path under ``directory``."""
    text = CONFIG.read_text()
    for pattern in (UPSTREAM_LINE, LISTEN_LINE, ACCESS_LOG):
        if not pattern.search(text):
            raise AssertionError(f"config/nginx.conf no longer has a line matching {pattern.pattern!r}")
    text = UPSTREAM_LINE.sub(
        lambda m: "\n".join(f"{m.group(1)}server {address} {m.group(2)};" for address in upstreams), text
    )
    text = LISTEN_LINE.sub(lambda m: f"{m.group(1)}listen 127.0.0.1:{port};", text)
    text = ACCESS_LOG.sub(f"access_log {directory / 'access.log'}", text)
    temp_paths = "".join(
        f"    {kind}_temp_path {directory / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return text.replace("http {\n", "http {\n" + temp_paths, 1)


class Nginx:
    """nginx in the foreground, on a free port, with its files in ``directory``."""

    def __init__(self, upstreams: list[str], directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = directory / "nginx.conf"
        config.write_text(render_config(upstreams, self.port, directory))
        # As root, workers would otherwise run as nobody and could not write
        # their temp files in the test's directory.
        user = "user root; " if os.geteuid() == 0 else ""
        error_log = directory / "error.log"
        globals_ = f"daemon off; {user}pid {directory / 'nginx.pid'}; error_log {error_log} info;"
        command = [nginx_binary(), "-p", str(directory), "-c", str(config), "-e", str(error_log)]
        check = subprocess.run([*command, "-t", "-g", globals_], capture_output=True, text=True)
        if check.returncode != 0:
            raise AssertionError(f"nginx refused the configuration:\n{check.stderr}")
        self.process = subprocess.Popen(
            [*command, "-g", globals_], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until(self._answers, timeout=20)

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"nginx exited:\n{(self.directory / 'error.log').read_text()}")
        try:
            httpx.get(f"{self.url}/healthz", timeout=1)
        except httpx.HTTPError:
            return False
        return True

    def access_log(self) -> str:
        return (self.directory / "access.log").read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: fast shutdown
            self.process.wait(20)


@pytest.fixture
def make_nginx(tmp_path: Path) -> Iterator[Callable[[list[str]], Nginx]]:
    """Start nginx in front of ``host:port`` upstreams; stopped after the test."""
    started: list[Nginx] = []

    def start(upstreams: list[str]) -> Nginx:
        proxy = Nginx(upstreams, tmp_path / f"nginx-{len(started)}")
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()
