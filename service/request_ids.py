"""Request ids: chosen once per exchange, here, and current for everything that serves it.

The client's ``X-Request-ID`` is kept when short and plain, so a caller can
follow its own id through our logs; otherwise a fresh one is made. The id
lives in a context variable of the request's task, which the greenlet bridge
shares with Flask and with every coroutine it awaits (docs/architecture.md).
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

HEADER = "X-Request-ID"
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def choose_request_id(candidate: str | None) -> str:
    """The client's id if it is short and plain, otherwise a fresh one."""
    if candidate and _SANE.match(candidate):
        return candidate
    return uuid.uuid4().hex


def assign_request_id(candidate: str | None) -> str:
    """Choose the id of the exchange this task serves and make it current."""
    request_id = choose_request_id(candidate)
    _current.set(request_id)
    return request_id


def current_request_id() -> str | None:
    """The id of the exchange being served, or None outside one."""
    return _current.get()
