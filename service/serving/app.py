"""The ASGI application: Flask under hypercorn, with async views on the server's loop.

Each exchange gets its request id, then passes the head and body limits,
then runs through Flask in the greenlet bridge; every response gets the
hardening headers, and every exchange one access-log line and its metrics.
The path of a request, piece by piece: docs/architecture.md.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask
from werkzeug.exceptions import HTTPException

from service import metrics
from service.errors import closing_problem
from service.request_ids import assign_request_id
from service.serving import drain
from service.serving.access_log import CLIENT_WENT_AWAY, log_exchange
from service.serving.bridge import bridge_async_views
from service.serving.exchange import WsgiExchange
from service.serving.headers import secured
from service.serving.lifespan import run_lifespan
from service.serving.limits import Refusal, check_head, read_body
from service.serving.runtime import Runtime

Scope = dict[str, Any]


class ServiceAsgi:
    """An ASGI application serving a Flask app built by ``create_app``."""

    def __init__(self, app: Flask) -> None:
        self.flask = app
        self.runtime: Runtime = app.extensions["service.runtime"]
        self.max_body = self.runtime.settings.max_body_bytes
        bridge_async_views(app)
        drain.install()  # hypercorn serves with our protocol and TCP server
        self._routes = app.url_map.bind("localhost")

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self._exchange(scope, receive, send)
        elif scope["type"] == "lifespan":
            await run_lifespan(self.runtime, receive, send)
        # Websockets are not served: returning closes them.

    async def _exchange(self, scope: Scope, receive: Any, send: Any) -> None:
        """Serve one request, then log it and count it."""
        request_id = assign_request_id(_header(scope, b"x-request-id"))
        started = time.perf_counter()
        status = CLIENT_WENT_AWAY
        path = scope["path"]

        async def send_secured(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = secured(path, message["headers"], request_id)
            await send(message)

        exchange = WsgiExchange(self.flask)
        try:
            refusal = check_head(scope, self.max_body)
            if refusal is None:
                body, refusal = await read_body(receive, self.max_body)
                if body is not None:
                    with body:
                        await exchange.serve(scope, body, send_secured)
            if refusal is not None:
                await _refuse(send_secured, refusal, request_id)
        finally:
            route = exchange.matched_rule()
            if route is None:  # refused before Flask, or the client left
                route = self._route(scope)
            seconds = time.perf_counter() - started
            log_exchange(scope["method"], route or metrics.UNMATCHED, status, seconds, request_id)

    def _route(self, scope: Scope) -> str:
        """The route template a request would match (a metrics and log label), or ``<unmatched>``."""
        try:
            rule, _ = self._routes.match(scope["path"], scope["method"], return_rule=True)
        except HTTPException:  # not found, wrong method, or a redirect
            return metrics.UNMATCHED
        return rule.rule


async def _refuse(send: Any, refusal: Refusal, request_id: str) -> None:
    """Answer with the refusal's problem and close the connection."""
    headers, body = closing_problem(refusal.status, refusal.detail, request_id)
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    key: bytes
    value: bytes
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1").strip()
    return None
