"""One error path: every failure leaves the service as RFC 9457 problem+json."""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, Response
from pydantic import BaseModel, Field
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError

from service import metrics
from service.request_ids import current_request_id

PROBLEM_JSON = "application/problem+json"
# RFC 9110 names, where Python's HTTPStatus still has the older ones.
_TITLES = {413: "Content Too Large", 414: "URI Too Long", 422: "Unprocessable Content"}
log = logging.getLogger("service.errors")


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem: the body of every 4xx and 5xx response."""

    # Written by ``problem_body`` below (a dict, for speed); this model is its documented shape.
    type: str = Field(examples=["about:blank"])
    title: str = Field(examples=["Unprocessable Content"])
    status: int = Field(ge=400, le=599)
    detail: str | None = None
    errors: list[FieldError] | None = Field(None, description="On validation failures, one per field.")
    request_id: str | None = None


class ServiceError(Exception):
    """A failure the client should see with its own status and detail."""

    status = 500
    headers: dict[str, str] = {}

    def __init__(self, detail: str | None = None, *, errors: list[dict[str, str]] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class BadRequest(ServiceError):
    status = 400


class Unauthorized(ServiceError):
    status = 401
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class TooManyRequests(ServiceError):
    status = 429

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after)}


class ContentTooLarge(ServiceError):
    status = 413


class UnsupportedMediaType(ServiceError):
    status = 415


class ValidationFailed(ServiceError):
    status = 422


class DependencyDown(ServiceError):
    """Redis or the database cannot be reached; ``dependency`` names which."""

    status = 503
    headers = {"Retry-After": "1"}

    def __init__(self, detail: str | None = None, *, dependency: str | None = None):
        super().__init__(detail)
        self.dependency = dependency


def problem_body(
    status: int,
    detail: str | None = None,
    *,
    errors: list[dict[str, str]] | None = None,
    request_id: str | None = None,
) -> bytes:
    """The problem+json body for ``status``: every writer of a problem calls this, Flask or not."""
    body: dict[str, Any] = {"type": "about:blank", "title": title(status), "status": status}
    if detail:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = errors
    if request_id:
        body["request_id"] = request_id
    # The newline keeps a curl user's prompt off the end of the body.
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def closing_problem(status: int, detail: str, request_id: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and body of a problem written below Flask; the connection closes after it."""
    body = problem_body(status, detail, request_id=request_id)
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    return headers, body


def problem(
    status: int,
    detail: str | None = None,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A problem+json response from Flask; the serving layer adds the request id header."""
    body = problem_body(status, detail, errors=errors, request_id=current_request_id())
    response = Response(body, status=status, mimetype=PROBLEM_JSON)
    response.headers.update(headers or {})
    return response


def title(status: int) -> str:
    """The standard reason phrase for ``status``."""
    return _TITLES.get(status) or HTTPStatus(status).phrase


def problem_for(error: BaseException) -> Response:
    """Turn any exception into the response the client should see."""
    if isinstance(error, InternalServerError) and error.original_exception is not None:
        # Raised outside the view (e.g. while saving the session): Flask wraps
        # the original; judge by it so a Redis fault is still a 503.
        error = error.original_exception
    if isinstance(error, DependencyDown) and error.dependency:
        metrics.count_dependency_failure(error.dependency)
    if isinstance(error, ServiceError):
        return problem(error.status, error.detail, errors=error.errors, headers=error.headers)
    if isinstance(error, HTTPException) and error.code is not None:
        headers = {k: v for k, v in error.get_headers() if k.lower() in ("allow", "retry-after")}
        return problem(error.code, error.description, headers=headers)
    down = _dependency_down(error)
    if down:
        metrics.count_dependency_failure(down)
        log.warning("%s unavailable: %s", down, type(error).__name__)
        return problem(503, f"{down} is unavailable, try again shortly", headers={"Retry-After": "1"})
    log.error("unhandled exception", exc_info=error)
    return problem(500, "The server failed to handle this request.")


def _dependency_down(error: BaseException) -> str | None:
    if isinstance(error, RedisError):
        return "redis"
    if isinstance(error, (OperationalError, InterfaceError, PoolTimeout)):
        return "database"
    if isinstance(error, DBAPIError) and (error.connection_invalidated or _transient_sqlstate(error)):
        return "database"
    if isinstance(error, (ConnectionError, TimeoutError)):
        return "a backing service"
    return None


# PostgreSQL SQLSTATEs that mean "try again": connection faults (08), too
# many connections (53), a cancelled statement or a server shutting down (57),
# serialization failures and deadlocks (40001, 40P01).
_TRANSIENT_CLASSES = ("08", "53", "57")
_TRANSIENT_STATES = ("40001", "40P01")


def _transient_sqlstate(error: DBAPIError) -> bool:
    state = getattr(error.orig, "sqlstate", None) or ""
    return state.startswith(_TRANSIENT_CLASSES) or state in _TRANSIENT_STATES


def register_error_handlers(app: Flask) -> None:
    """Route every exception, HTTP or not, through ``problem_for``."""
    app.register_error_handler(Exception, problem_for)
