"""One request through Flask: asgiref's WSGI adapter, run in the greenlet bridge.

asgiref's ``WsgiToAsgiInstance`` runs the WSGI call on a thread, one request
at a time; here its ``run_wsgi_app`` runs in a greenlet on the server's loop
instead, and every ``send`` is awaited through the bridge
(docs/architecture.md, "The path of a request").

This module owns our override of asgiref's internals, checked against
asgiref 3.13.0: the ``sync_to_async``-wrapped ``run_wsgi_app`` (we call the
function it wraps), the ``scope``, ``sync_send`` and ``wsgi_application``
attributes it reads, and ``build_environ``.
"""

from __future__ import annotations

from typing import IO, Any

from asgiref.wsgi import WsgiToAsgiInstance
from flask import Flask

from service.serving.bridge import run_bridged, wait_for

ASGIREF_CHECKED = "3.13.0"
Scope = dict[str, Any]
# The stock method, unwrapped from its thread-sensitive ``sync_to_async``.
_stock_run_wsgi_app = WsgiToAsgiInstance.__dict__["run_wsgi_app"].func


class WsgiExchange(WsgiToAsgiInstance):
    """One request/response exchange with the Flask app."""

    def __init__(self, app: Flask) -> None:
        super().__init__(app)
        self.environ: dict[str, Any] = {}

    async def serve(self, scope: Scope, body: IO[bytes], send: Any) -> None:
        """Run the WSGI app on ``body`` (already read), sending its answer through ``send``."""
        self.scope = scope
        # asgiref declares an ``AsyncToSync`` here; any callable taking the message will do.
        self.sync_send = lambda message: wait_for(send(message))  # type: ignore[assignment]
        await run_bridged(self._run_wsgi, body)

    def _run_wsgi(self, body: IO[bytes]) -> None:
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
