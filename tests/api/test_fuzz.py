"""Schemathesis against a live server, from /openapi.json: no 5xx, every response as documented.

Runs every phase (examples, coverage, fuzzing, stateful) with all checks and
a bounded number of examples per operation. FUZZ_MAX_EXAMPLES and FUZZ_SEED
widen or vary the run; the CLI's output is kept in reports/schemathesis.txt.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.factories import register
from tests.support.live import LiveServer
from tests.support.processes import ROOT, RedisServer

pytestmark = pytest.mark.slow

# Operations left out of the run, as regexes of their paths (none: every operation is fuzzed).
EXCLUDED_PATHS: list[str] = []


def test_schemathesis_finds_no_failure(
    make_server: Callable[..., LiveServer], private_redis: RedisServer, tmp_path: Path
) -> None:
    # The run logs in hundreds of times from one address: limits it cannot reach. Its
    # own Redis, so its failed password checks (login, password change, second factor)
    # do not count against 127.0.0.1 for the servers of the tests after it. The
    # forgot limits too: 429 stays documented, and the 202 path gets fuzzed.
    server = make_server(
        redis_url=private_redis.url,
        login_max_per_account=10**6,
        login_max_per_ip=10**6,
        forgot_max_per_address=10**6,
        forgot_max_per_ip=10**6,
    )
    with httpx.Client(base_url=server.url, timeout=30) as client:
        account = register(client)
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file", str(ROOT / "tests" / "support" / "schemathesis.toml"),  # expected refusals
        "run", f"{server.url}/openapi.json",
        "--checks", "all",
        "--max-examples", os.environ.get("FUZZ_MAX_EXAMPLES", "25"),
        "--seed", os.environ.get("FUZZ_SEED", "20261125"),
        "--workers", "2",
        "--request-timeout", "30",
        "--report", "json", "--report-json-path", str(tmp_path / "report.json"),
    ]  # fmt: skip
    if EXCLUDED_PATHS:  # the CLI keeps only the last of repeated options: one regex
        command += ["--exclude-path-regex", f"^({'|'.join(EXCLUDED_PATHS)})$"]
    env = os.environ | {
        "SCHEMATHESIS_HOOKS": "tests.support.fuzz_hooks",
        "PYTHONPATH": str(ROOT),
        "FUZZ_BASE_URL": server.url,
        "FUZZ_USERNAME": account.username,
        "FUZZ_PASSWORD": account.password,
    }
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=1200)
    (ROOT / "reports").mkdir(exist_ok=True)
    (ROOT / "reports" / "schemathesis.txt").write_text(result.stdout + result.stderr)
    report = json.loads((tmp_path / "report.json").read_text())
    summary = f"schemathesis: {report['test_cases']} on {report['operations']['tested']} operations"
    print(summary)
    assert result.returncode == 0, f"{summary}\n{result.stdout[-20000:]}\n{result.stderr[-5000:]}"
    assert report["failures"] == [] and report["errors"] == []
    assert report["operations"]["tested"] == report["operations"]["selected"] > 0
    assert report["test_cases"]["generated"] > 100
    # Authentication must have worked, or most cases only ever saw a 401.
    assert not report["auth"]["reauth_broke"]
    assert not report["warnings"]["missing_auth"]
