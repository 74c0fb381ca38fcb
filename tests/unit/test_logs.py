"""Every line a served process writes to stderr is one JSON object, tagged with its request's id.

Against ``serve.py`` as `make run` starts it: libraries' warnings, errors in
views and in the async code they await, the loop's exception handler,
threads and a worker that cannot start all reach stderr as JSON lines.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from service.logs import JsonFormatter
from tests.support.processes import ROOT, free_port, wait_until
from tests.support.served import ServedProcess

PROBES = "tests.support.log_probes:app"


class ProbedProcess(ServedProcess):
    """``serve.py`` serving another app path (the service plus probe routes)."""

    app_path = PROBES

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "serve.py", self.app_path],
                cwd=ROOT,
                env=os.environ | self.environ,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(self._healthy, timeout=30)


def json_lines(text: str) -> list[dict]:
    """Every line parsed; fails on the first that is not one JSON object."""
    lines = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
        assert isinstance(entry, dict), line
        lines.append(entry)
    return lines


def probed(serve_process: Callable[..., ServedProcess], tmp_path: Path) -> ServedProcess:
    """A served process like ``serve_process``'s, on the probe app."""
    plain = serve_process()  # its environment, database and port, then stopped
    plain.stop()
    return ProbedProcess(plain.environ, tmp_path / "probed.log")


def test_library_warnings_loop_and_thread_errors_are_json_lines_with_the_request_id(
    serve_process: Callable[..., ServedProcess], tmp_path: Path
) -> None:
    served = probed(serve_process, tmp_path)
    try:
        with httpx.Client(base_url=served.url, timeout=15) as client:
            noisy = client.get("/probe/noise", headers={"X-Request-ID": "noise-1"})
            crash = client.get("/probe/crash", headers={"X-Request-ID": "crash-1"})
            thread = client.get("/probe/thread", headers={"X-Request-ID": "thread-1"})
        assert (noisy.status_code, crash.status_code, thread.status_code) == (200, 500, 200)
        assert "a bug in a view" not in crash.text  # no stack trace in a response

        def find(message: str) -> dict | None:
            return next((line for line in json_lines(served.logs()) if message in line["message"]), None)

        wait_until(lambda: None not in (find("Exception in callback"), find("thread probe-thread")))
        expected = {
            "a library's warning": ("py.warnings", "WARNING", "noise-1"),
            "a library's own log line": ("somelibrary", "WARNING", "noise-1"),
            "from the view": ("service.probe", "INFO", "noise-1"),
            "from async code awaited by a view": ("service.probe", "ERROR", "noise-1"),
            "unhandled exception": ("service.errors", "ERROR", "crash-1"),
            # The loop calls its handler outside the failed callback's context.
            "Exception in callback": ("asyncio", "ERROR", None),
            "uncaught exception in thread probe-thread": ("service.logs", "ERROR", None),
        }
        for message, (logger, level, request_id) in expected.items():
            line = find(message)
            assert line is not None, message
            assert (line["logger"], line["level"], line.get("request_id")) == (logger, level, request_id)
        assert "a loop callback failed" in find("Exception in callback")["exception"]  # type: ignore[index]
        assert "a bug in a view" in find("unhandled exception")["exception"]  # type: ignore[index]
        assert "a thread failed" in find("thread probe-thread")["exception"]  # type: ignore[index]
    finally:
        served.stop()
    json_lines(served.logs())  # every line, hypercorn's startup and shutdown included


def test_an_error_in_a_real_request_carries_its_request_id(
    serve_process: Callable[..., ServedProcess],
) -> None:
    # Nothing listens on that port: every login finds Redis down.
    served = serve_process(redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_socket_timeout=0.5)
    credentials = {"username": "somebody", "password": "long enough password"}
    with httpx.Client(base_url=served.url, timeout=15) as client:
        answer = client.post("/api/v1/auth/login", json=credentials)
    assert answer.status_code == 503
    request_id = answer.headers["X-Request-ID"]

    def ours() -> list[dict]:
        return [line for line in json_lines(served.logs()) if line.get("request_id") == request_id]

    wait_until(lambda: any(line["logger"] == "service.requests" for line in ours()))
    assert [line["logger"] for line in ours()] == ["service.errors", "service.requests"]
    assert ours()[0]["level"] == "WARNING" and "redis unavailable" in ours()[0]["message"]


def test_a_worker_that_cannot_start_logs_its_failure_as_json(
    serve_process: Callable[..., ServedProcess], tmp_path: Path
) -> None:
    plain = serve_process()
    plain.stop()
    log_path = tmp_path / "broken.log"
    with log_path.open("ab") as log:
        status = subprocess.run(
            [sys.executable, "serve.py", "tests.support.log_probes:no_such_app"],
            cwd=ROOT,
            env=os.environ | plain.environ | {"PORT": str(free_port())},
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=60,
        ).returncode
    assert status == 1
    lines = json_lines(log_path.read_text())
    failure = [line for line in lines if line["message"] == "worker process failed"]
    assert len(failure) == 1 and failure[0]["level"] == "CRITICAL"
    assert "no_such_app" in failure[0]["exception"]


def test_a_bad_setting_stops_the_server_with_one_json_line() -> None:
    done = subprocess.run(
        [sys.executable, "serve.py"],
        cwd=ROOT,
        env=os.environ | {"APP_ENV": "development", "LOGIN_WINDOW": "soon"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    (line,) = json_lines(done.stderr)
    assert line["level"] == "CRITICAL" and line["message"].startswith("configuration error: LOGIN_WINDOW")


def test_token_shaped_strings_are_cut_from_messages_and_tracebacks() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXZhbHVl"
    personal = "pat_" + "A1b2" * 11
    try:
        raise ValueError(f"could not use {jwt}")
    except ValueError:
        record = logging.LogRecord("somelibrary", logging.ERROR, __file__, 1, "got %s", (), sys.exc_info())
    record.args = (f"Authorization: Bearer {personal} and {jwt}",)
    line = JsonFormatter().format(record)
    assert jwt not in line and personal not in line
    assert json.loads(line)["message"] == "got Authorization: Bearer [redacted] and [redacted]"
    # Words that only look like the start of one stay.
    assert json.loads(JsonFormatter().format(logging.makeLogRecord({"msg": "bearer login ok"})))[
        "message"
    ] == ("bearer login ok")
