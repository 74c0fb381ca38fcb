"""The ASGI adapter: Flask under hypercorn, with async views on the server's loop.

Built on asgiref's ``WsgiToAsgi`` with three changes:

* The WSGI call runs, by default (``WSGI_MODE=loop``), in a greenlet on the
  server's loop (``service/bridge.py``): Flask's ``ensure_sync`` awaits each
  async view right there, where the one engine and Redis pool live, with no
  thread hop. With ``WSGI_MODE=threads`` it runs non-thread-sensitive on a
  bounded pool instead (stock ``WsgiToAsgi`` is thread-sensitive: one request
  at a time), and ``ensure_sync`` sends each async view back to the loop.
* The body limit is enforced while the body arrives, so an oversized upload
  gets 413 without being stored (``WsgiToAsgi`` spools it all first).
* ASGI lifespan opens the process's pools on the server's loop and closes
  them at shutdown.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from tempfile import SpooledTemporaryFile
from typing import Any

from asgiref.sync import AsyncToSync, SyncToAsync
from asgiref.wsgi import WsgiToAsgiInstance
from flask import Flask
from werkzeug.exceptions import HTTPException

from service import metrics
from service.bridge import bridged_async_to_sync, run_bridged, wait_for
from service.errors import title
from service.heap import freeze_startup_objects
from service.logs import FIELDS, bind_request_id
from service.request_ids import HEADER, choose_request_id
from service.runtime import Runtime

log = logging.getLogger("service.asgi")
requests_log = logging.getLogger("service.requests")
# Logged when the client left before any answer (nginx's convention).
CLIENT_WENT_AWAY = 499
Scope = dict[str, Any]
# Hypercorn's h11 refuses (431, no body) only what arrives incomplete past
# h11_max_incomplete_size; a request read in one go can carry far more. These
# bounds apply whatever the reads were, and answer with problem+json.
MAX_TARGET_BYTES = 8 * 1024  # path plus query string
MAX_HEADER_BYTES = 16 * 1024  # every header name and value together
MAX_HEADERS = 100


class ServiceAsgi:
    """An ASGI application serving a Flask app built by ``create_app``."""

    def __init__(self, app: Flask) -> None:
        self.flask = app
        self.runtime: Runtime = app.extensions["service.runtime"]
        settings = self.runtime.settings
        self.max_body = settings.max_body_bytes
        self.on_loop = settings.wsgi_mode == "loop"
        self.executor = ThreadPoolExecutor(settings.wsgi_threads, thread_name_prefix="wsgi")
        if self.on_loop:
            app.async_to_sync = bridged_async_to_sync  # type: ignore[method-assign]
        self._routes = app.url_map.bind("localhost")

    def route(self, scope: Scope) -> str:
        """The route template a request matches (a metrics and log label), or ``<unmatched>``."""
        try:
            rule, _ = self._routes.match(scope["path"], scope["method"], return_rule=True)
        except HTTPException:  # not found, wrong method, or a redirect
            return metrics.UNMATCHED
        return rule.rule

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await _Exchange(self)(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        # Websockets are not served: returning closes them.

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.runtime.open()
                except Exception as error:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                freeze_startup_objects()
                log.info("pools open")
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.runtime.close()
                self.executor.shutdown(wait=False)
                log.info("pools closed")
                await send({"type": "lifespan.shutdown.complete"})
                return


class _Exchange(WsgiToAsgiInstance):
    """One request/response exchange."""

    def __init__(self, server: ServiceAsgi) -> None:
        super().__init__(server.flask)
        self.server = server

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        """Serve the exchange, then log it (one JSON line) and count it."""
        self.request_id = choose_request_id(_header(scope, b"x-request-id"))
        bind_request_id(self.request_id)  # this task's context: every line logged serving it
        started = time.perf_counter()
        status = CLIENT_WENT_AWAY

        async def observed_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._serve(scope, receive, observed_send)
        finally:
            seconds = time.perf_counter() - started
            method, route = scope["method"], self._route(scope)
            metrics.observe_request(method, route, status, seconds)
            fields = {
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "request_id": self.request_id,
            }
            requests_log.info("request", extra={FIELDS: fields})

    async def _serve(self, scope: Scope, receive: Any, send: Any) -> None:
        self.scope = scope
        oversized = _oversized_head(scope)
        if oversized is not None:
            await self._refuse(send, *oversized)
            return
        limit = self.server.max_body
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            status = 413 if declared.isdigit() else 400
            await self._refuse(send, status, f"The body must be at most {limit} bytes.")
            return
        with SpooledTemporaryFile(max_size=65536) as body:
            received = 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit:
                    await self._refuse(send, 413, f"The body must be at most {limit} bytes.")
                    return
                body.write(chunk)
                if not message.get("more_body"):
                    break
            body.seek(0)
            if self.server.on_loop:
                self.sync_send = lambda message: wait_for(send(message))
                await run_bridged(self._run_wsgi, body)
                return
            self.sync_send = AsyncToSync(send)
            run = SyncToAsync(self._run_wsgi, thread_sensitive=False, executor=self.server.executor)
            await run(body)

    def _run_wsgi(self, body: Any) -> None:
        """The stock ``run_wsgi_app``, plus the ``close()`` PEP 3333 requires of a server.

        asgiref never closes the response iterable, so a file response
        (``send_file``) would leak its open file.
        """
        app, responses = self.wsgi_application, []

        def tracked(environ: dict[str, Any], start_response: Any) -> Any:
            responses.append(app(environ, start_response))
            return responses[-1]

        self.wsgi_application = tracked
        try:
            _stock_run_wsgi_app(self, body)
        finally:
            for iterable in responses:
                if hasattr(iterable, "close"):
                    iterable.close()

    def build_environ(self, scope: Scope, body: Any) -> dict[str, Any]:
        environ = super().build_environ(scope, body)
        environ["service.request_id"] = self.request_id
        self.environ = environ
        return environ

    def _route(self, scope: Scope) -> str:
        """The route label, from the rule Flask matched when the request reached it."""
        flask_request = getattr(self, "environ", {}).get("werkzeug.request")
        if flask_request is None:  # refused before Flask (413, 414, 431) or client gone
            return self.server.route(scope)
        rule = flask_request.url_rule
        return metrics.UNMATCHED if rule is None else rule.rule

    async def _refuse(self, send: Any, status: int, detail: str) -> None:
        problem = {
            "type": "about:blank",
            "title": title(status),
            "status": status,
            "detail": detail,
            "request_id": self.request_id,
        }
        body = json.dumps(problem, separators=(",", ":")).encode()
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (HEADER.lower().encode(), self.request_id.encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


# The stock method, unwrapped from its thread-sensitive ``sync_to_async``.
_stock_run_wsgi_app = WsgiToAsgiInstance.__dict__["run_wsgi_app"].func


def _oversized_head(scope: Scope) -> tuple[int, str] | None:
    """414 or 431 with its reason when the request line or headers are too big."""
    target = len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string", b""))
    if target > MAX_TARGET_BYTES:
        return 414, f"The path and query string must be at most {MAX_TARGET_BYTES} bytes."
    headers = scope.get("headers", ())
    if len(headers) > MAX_HEADERS or sum(len(k) + len(v) for k, v in headers) > MAX_HEADER_BYTES:
        return 431, f"At most {MAX_HEADERS} headers of {MAX_HEADER_BYTES} bytes in all."
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1").strip()
    return None
