"""Request ids: taken from ``X-Request-ID`` when sane, else generated; echoed back."""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, request

HEADER = "X-Request-ID"
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def choose_request_id(candidate: str | None) -> str:
    """The client's id if it is short and plain, otherwise a fresh one."""
    if candidate and _SANE.match(candidate):
        return candidate
    return uuid.uuid4().hex


def current_request_id() -> str:
    """This request's id; also before ``before_request`` ran (e.g. opening the session failed)."""
    if "request_id" not in g:
        g.request_id = request.environ.get("service.request_id") or choose_request_id(
            request.headers.get(HEADER)
        )
    return g.request_id


def register_request_ids(app: Flask) -> None:
    @app.before_request
    def _assign() -> None:
        current_request_id()

    @app.after_request
    def _echo(response: Response) -> Response:
        response.headers[HEADER] = current_request_id()
        return response
