"""Structured logs: every line on stderr one JSON object, tagged with its request's id.

One handler on the root logger formats every library's records, asyncio's
loop exception handler (it logs to the ``asyncio`` logger) and, in the
server's processes, Python warnings and uncaught exceptions (main thread,
other threads, worker process targets, "exception ignored" ones). A record is formatted synchronously in
the call that logged it, so the request id is read from a context variable
set where the exchange starts: the greenlet running Flask shares the
request task's context, and so do the coroutines awaited from it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from config.setting_errors import SettingsError
from config.settings import Settings, load_settings
from service.request_ids import current_request_id

# Set on a record through ``extra={"fields": {...}}``; merged into the line.
FIELDS = "fields"
# Defence in depth: a token that slipped into a message or an exception is
# cut from the line (JWTs, and a bearer credential of any shape).
_TOKENS = re.compile(r"\beyJ[\w-]*\.[\w-]+\.[\w-]*|\bpat_[\w-]{16,}")
_BEARER = re.compile(r"(?i)(\bbearer\s+)[\w.~+/=-]{16,}")
_REDACTED = "[redacted]"
# Built once: json.dumps with options makes a new encoder on every call.
_ENCODE = json.JSONEncoder(default=str, separators=(",", ":")).encode
log = logging.getLogger("service.logs")


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,  # which worker, when there are several
            "message": _redact(record.getMessage()),
        }
        request_id = current_request_id()
        if request_id is not None:
            entry["request_id"] = request_id
        entry.update(getattr(record, FIELDS, {}))
        if record.exc_info:
            entry["exception"] = _redact(self.formatException(record.exc_info))
        elif record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return _ENCODE(entry)


def _redact(text: str) -> str:
    if "eyJ" in text or "pat_" in text:
        text = _TOKENS.sub(_REDACTED, text)
    if "earer" in text:
        text = _BEARER.sub(rf"\g<1>{_REDACTED}", text)
    return text


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler this module installed, so configuring twice adds nothing."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.setFormatter(JsonFormatter())


def configure_logging(settings: Settings) -> None:
    """Every log record as a JSON line on stderr: the service's at ``LOG_LEVEL``, others' from WARNING up."""
    _install_handler(settings.log_level)


def configure_process_logging(level: str = "INFO") -> None:
    """``configure_logging``, and this process's stray output through the log too.

    Warnings, uncaught exceptions (main thread, other threads) and "exception
    ignored" ones. For the server's and the commands' processes only: a
    test runner keeps hooks of its own there.
    """
    _install_handler(level)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
    sys.unraisablehook = _log_unraisable


def load_settings_or_log() -> Settings:
    """Settings for the server: a bad setting is one CRITICAL JSON line and exit status 2."""
    try:
        return load_settings()
    except SettingsError as error:
        configure_process_logging()
        log.critical("configuration error: %s", error)
        raise SystemExit(2) from None


def _install_handler(level: str) -> None:
    level_number = logging.getLevelName(level.upper())
    if not isinstance(level_number, int):
        level_number = logging.INFO
    # The lines carry neither the thread's nor the process's name: no
    # record needs to look them up.
    logging.logThreads = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    if not any(isinstance(handler, _StderrHandler) for handler in root.handlers):
        root.addHandler(_StderrHandler())
    # Other libraries stay at WARNING even when LOG_LEVEL=DEBUG: their debug
    # lines (a driver's statements and parameters) could carry hashes.
    root.setLevel(max(level_number, logging.WARNING))
    logging.getLogger("service").setLevel(level_number)


def _log_uncaught(kind: type[BaseException], error: BaseException, traceback: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        log.warning("interrupted")
        return
    log.critical("uncaught exception", exc_info=(kind, error, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    exc_info = (args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)
    log.error("uncaught exception in thread %s", name, exc_info=exc_info)


def _log_unraisable(unraisable: sys.UnraisableHookArgs) -> None:
    where = unraisable.err_msg or "Exception ignored in"
    error = unraisable.exc_value or unraisable.exc_type()
    log.error(
        "%s: %r", where, unraisable.object, exc_info=(unraisable.exc_type, error, unraisable.exc_traceback)
    )


def run_logged(target: Callable[..., Any], level: str, /, **kwargs: Any) -> None:
    """A child process's target, with JSON logs from its first line and a crash as one JSON line.

    ``multiprocessing`` prints a failed target's traceback as plain text
    itself, past ``sys.excepthook``; here it is logged and the exit status is 1.
    """
    configure_process_logging(level)
    try:
        target(**kwargs)
    except Exception:
        log.critical("worker process failed", exc_info=True)
        raise SystemExit(1) from None
