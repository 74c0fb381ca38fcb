"""The README's examples, pasted in order into one shell, give the statuses they document.

Every ``sh`` block of README.md, then of docs/tour.md (the tour continued), is
run, in order, by one bash against a fresh
server started as ``make run`` starts it (``serve.py``, development settings so
that curl sends the cookie back over plain http), except the blocks made only
of ``make`` commands, which set up and start that server. Each ``curl`` command
in the README ends with a comment starting with the status it answers
(``# 201 ...``); a ``curl`` function defined before the blocks records the
status of every call, and the test compares the two lists. The pages'
relative links must resolve in a clone.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.support.processes import ROOT, RedisServer
from tests.support.served import ServedProcess

README = ROOT / "README.md"
TOUR = ROOT / "docs" / "tour.md"  # the README's tour, continued in the same shell
BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)
DOCUMENTED_STATUS = re.compile(r"\s#\s*(\d{3})\b")

# Records the final status of each call (after any 100 Continue) in $STATUSES,
# in call order, also for calls inside $(...), which run in a subshell.
RECORDING_CURL = r"""
curl() {
  local head status rc
  head=$(mktemp)
  command curl -D "$head" "$@"; rc=$?
  status=$(grep -a '^HTTP/' "$head" | tail -n 1 | cut -d ' ' -f 2)
  echo "${status:-none}" >> "$STATUSES"
  rm -f "$head"
  return $rc
}
"""


def shell_blocks(text: str) -> list[str]:
    """The README's ``sh`` blocks to run, in order: all but those made of ``make`` commands only."""
    blocks = []
    for block in BLOCK.findall(text):
        commands = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
        if not all(line.startswith("make ") for line in commands):
            blocks.append(block)
    return blocks


def documented_statuses(blocks: list[str]) -> list[tuple[str, str]]:
    """(status, command) for every ``curl`` command, in order; fails on a command that documents none."""
    statuses = []
    for block in blocks:
        for command in block.replace("\\\n", " ").splitlines():
            if "curl " not in command:
                continue
            found = DOCUMENTED_STATUS.search(command)
            assert found, f"a README curl command documents no status: {command.strip()}"
            statuses.append((found.group(1), command.strip()))
    return statuses


def test_the_readme_has_a_tour_to_run() -> None:
    blocks = shell_blocks(README.read_text())
    assert len(blocks) >= 3
    assert all("make " not in block for block in blocks), "the setup block must not be run"
    assert len(documented_statuses(blocks)) >= 15


def test_every_relative_link_of_the_docs_resolves_in_a_clone() -> None:
    """README.md and docs/ link only to files in the repository (a clone has no ../shared/)."""
    pages = [README, *sorted((README.parent / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)[^)]*\)", page.read_text()):
            if "://" not in target and not (page.parent / target).resolve().is_file():
                broken.append(f"{page.name}: {target}")
    assert broken == []
    assert all("../shared" not in page.read_text() for page in pages)


def test_every_readme_block_works_pasted_in_order_on_a_fresh_server(
    serve_process: Callable[..., ServedProcess], private_redis: RedisServer, tmp_path: Path
) -> None:
    # A Redis of its own too: login limits other tests left for "alice" must not count here.
    # As `make run`: with the mail worker, writing to an outbox the tour reads as var/outbox/.
    server = serve_process(
        app_env="development",
        redis_url=private_redis.url,
        mail_outbox_dir=str(tmp_path / "var" / "outbox"),
        smtp_url="",  # unset: the outbox, as in development
        introspection_clients="demo:demo-secret",
        args=("--mail-worker",),
    )
    blocks = shell_blocks(README.read_text()) + shell_blocks(TOUR.read_text())
    expected = documented_statuses(blocks)
    script = "\n".join(blocks).replace("localhost:8000", f"127.0.0.1:{server.port}")
    script = script.replace("scripts/outbox_link.py", str(ROOT / "scripts" / "outbox_link.py"))
    statuses = tmp_path / "statuses"
    statuses.touch()

    result = subprocess.run(
        ["bash", "--noprofile", "--norc"],
        input=RECORDING_CURL + script,
        capture_output=True,
        text=True,
        cwd=tmp_path,  # the cookie jar lands here
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "STATUSES": str(statuses)},
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == "", result.stderr  # e.g. a traceback from field() on an unexpected body
    answered = statuses.read_text().split()
    wrong = [
        f"{command}\n    documented {status}, answered {got}"
        for (status, command), got in zip(expected, answered, strict=False)
        if status != got
    ]
    assert wrong == [], "\n".join(wrong)
    assert len(answered) == len(expected), result.stdout
    # The bodies the comments show, where they are short enough to check.
    assert '"username":"alice"' in result.stdout.replace(" ", "")
    assert "location: /api/v1/notes/1" in result.stdout.lower()
