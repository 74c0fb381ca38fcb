"""Debian's headless chromium, for checking that pages really render."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import ROOT

NAMES = ("chromium", "chromium-browser")


def chromium_binary() -> str:
    """The chromium executable, installed by ``make ensure-chromium`` when missing."""
    found = next(filter(None, map(shutil.which, NAMES)), None)
    if found is None and shutil.which("apt-get"):
        subprocess.run(["make", "-s", "ensure-chromium"], cwd=ROOT, check=False)
        found = next(filter(None, map(shutil.which, NAMES)), None)
    if found is None:
        if not shutil.which("apt-get"):
            pytest.skip("chromium is not installed and this system has no apt-get to install it")
        pytest.fail("chromium is not installed and 'make ensure-chromium' could not install it")
    return found


def run_chromium(profile: Path, url: str, *options: str) -> subprocess.CompletedProcess[str]:
    """Load ``url`` in headless chromium with no network beyond this machine, then run ``options``."""
    command = [
        chromium_binary(),
        "--headless",
        "--no-sandbox",  # tests run as root in CI; the page is our own
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={profile}",
        # Any host but 127.0.0.1 fails to resolve: the page must need no CDN.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        # Lets the page's scripts fetch and render before the dump or screenshot.
        "--virtual-time-budget=15000",
        *options,
        url,
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=180)  # a guard against a hung browser only
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
