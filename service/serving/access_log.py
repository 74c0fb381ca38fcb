"""One JSON line and one count per exchange: method, route template, status, duration, request id."""

from __future__ import annotations

import logging

from service import metrics
from service.logs import FIELDS

requests_log = logging.getLogger("service.requests")
# Logged when the client left before any answer (nginx's convention).
CLIENT_WENT_AWAY = 499


def log_exchange(method: str, route: str, status: int, seconds: float, request_id: str) -> None:
    """Count the exchange in the metrics and write its access-log line."""
    metrics.observe_request(method, route, status, seconds)
    if not requests_log.isEnabledFor(logging.INFO):
        return
    fields = {
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "request_id": request_id,
    }
    # Made here, not by ``info``: that looks up the caller's file and line
    # by walking the stack, which the line does not carry.
    record = requests_log.makeRecord(
        requests_log.name, logging.INFO, "", 0, "request", (), None, extra={FIELDS: fields}
    )
    requests_log.handle(record)
