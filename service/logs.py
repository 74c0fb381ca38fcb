"""Structured logs: one JSON object per line on stderr, for every ``service.*`` logger."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from config.settings import Settings

# Set on a record through ``extra={"fields": {...}}``; merged into the line.
FIELDS = "fields"


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,  # which worker, when there are several
            "message": record.getMessage(),
        }
        entry.update(getattr(record, FIELDS, {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


class _ServiceHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler this module installed, so configuring twice adds nothing."""


def configure_logging(settings: Settings) -> None:
    """Send the service's logs to stderr as JSON lines at ``LOG_LEVEL``."""
    logger = logging.getLogger("service")
    logger.setLevel(settings.log_level.upper())
    if not any(isinstance(handler, _ServiceHandler) for handler in logger.handlers):
        handler = _ServiceHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
