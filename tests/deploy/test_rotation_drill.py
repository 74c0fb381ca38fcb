"""The rotation drill, short: locust's users keep working while two instances behind nginx rotate
their signing key (scripts/rotation_drill.py; ``make rotation-drill`` runs the long one).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.nginx import nginx_binary
from tests.support.processes import ROOT


def ensure_locust() -> None:
    """locust is a bench tool (requirements-bench.txt): installed by ``make install-bench`` when missing."""
    found = subprocess.run([sys.executable, "-c", "import locust"], capture_output=True, check=False)
    if found.returncode != 0:
        subprocess.run(["make", "-s", "install-bench"], cwd=ROOT, check=False)
        found = subprocess.run([sys.executable, "-c", "import locust"], capture_output=True, check=False)
    if found.returncode != 0:
        pytest.fail("locust is not installed and 'make install-bench' could not install it")


def test_a_key_rotation_under_locust_with_rolling_sigterm_restarts_fails_no_request() -> None:
    nginx_binary()
    ensure_locust()
    # Lifetimes of seconds, so the old key's refresh tokens expire within the drill.
    short = ["--users", "8", "--spawn-rate", "8", "--settle", "2", "--access-ttl", "6", "--refresh-ttl", "12"]
    drill = subprocess.run(
        [sys.executable, "scripts/rotation_drill.py", *short],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    output = drill.stdout + drill.stderr
    assert "step 3: the old key is removed" in output, output
    assert output.count("restarted (SIGTERM") == 6, output  # three rolls of two instances
    assert "the old key gone" in output, output
    requests = int(output.split("locust requests: ", 1)[1].split()[0])
    assert requests > 100, output  # traffic flowed through every step
    # Nothing is tolerated: no refused token, no wrong answer, no request lost at a
    # restart (a POST included), no 502 (docs/deployment.md, Key rotation).
    assert "locust failures: 0\n" in output, output
    assert not [line for line in output.splitlines() if line.startswith("  failed: ")], output
    assert drill.returncode == 0, output
