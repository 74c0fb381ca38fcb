"""One request through Flask: asgiref's WSGI adapter, run in the greenlet bridge.

asgiref's ``WsgiToAsgiInstance`` runs the WSGI call on a thread, one request
at a time; here the WSGI call runs in a greenlet on the server's loop
instead, and every ``send`` is awaited through the bridge
(docs/architecture.md, "The path of a request"). The call itself is ours, in
the shape of asgiref's ``run_wsgi_app``, with two differences: the response
iterable is closed (PEP 3333), and the chunk that completes a declared
Content-Length ends the body, instead of one more empty message after it.

This module owns our use of asgiref's internals, checked against
asgiref 3.13.0: ``build_environ(scope, body)`` and its ``duplicate_header_limit``
(off here), ``start_response`` and the ``response_start`` and
``response_content_length`` it sets.
"""

from __future__ import annotations

from typing import IO, Any

from asgiref.wsgi import WsgiToAsgiInstance
from flask import Flask

from service.serving.bridge import run_bridged, wait_for

ASGIREF_CHECKED = "3.13.0"
Scope = dict[str, Any]


class WsgiExchange(WsgiToAsgiInstance):
    """One request/response exchange with the Flask app."""

    def __init__(self, app: Flask) -> None:
        # No duplicate-header limit of asgiref's (its refusal is a text/plain
        # 400): service/serving/limits.py bounds the headers before Flask.
        super().__init__(app, duplicate_header_limit=None)
        self.environ: dict[str, Any] = {}

    async def serve(self, scope: Scope, body: IO[bytes], send: Any) -> None:
        """Run the WSGI app on ``body`` (already read), sending its answer through ``send``."""
        self.scope = scope
        self._send = send
        await run_bridged(self._run_wsgi, body)

    def _send_now(self, message: dict[str, Any]) -> None:
        wait_for(self._send(message))

    def _run_wsgi(self, body: IO[bytes]) -> None:
        """Run the app and send its answer; the response iterable is closed whatever happens."""
        environ = self.build_environ(self.scope, body)
        iterable = self.wsgi_application(environ, self.start_response)
        try:
            self._send_body(iterable)
        finally:
            if hasattr(iterable, "close"):
                iterable.close()

    def _send_body(self, iterable: Any) -> None:
        sent = 0
        for output in iterable:
            if not self.response_started:
                self.response_started = True
                self._send_now(self.response_start)
            length = self.response_content_length
            if length is not None:
                # Never more than the declared length; its last byte ends the body.
                output = output[: length - sent]
                sent += len(output)
                if sent == length:
                    self._send_now({"type": "http.response.body", "body": output})
                    return
            self._send_now({"type": "http.response.body", "body": output, "more_body": True})
        if not self.response_started:
            self.response_started = True
            self._send_now(self.response_start)
        self._send_now({"type": "http.response.body"})

    def build_environ(self, scope: Scope, body: Any) -> dict[str, Any]:
        """The stock environ, kept so the route Flask matched can label the exchange."""
        self.environ = super().build_environ(scope, body)
        return self.environ

    def matched_rule(self) -> str | None:
        """The route template Flask matched, "" if it matched none, None if Flask never saw it."""
        flask_request = self.environ.get("werkzeug.request")
        if flask_request is None:
            return None
        rule = flask_request.url_rule
        return "" if rule is None else rule.rule
