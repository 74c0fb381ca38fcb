"""The application factory."""

from __future__ import annotations

from flask import Flask

from config.settings import Settings, load_settings
from service.auth.cookies import register_cookie_sessions
from service.errors import register_error_handlers
from service.logs import configure_logging
from service.proxies import register_proxies
from service.request_ids import register_request_ids
from service.routes import register_routes
from service.runtime import Runtime


def create_app(settings: Settings | None = None) -> Flask:
    """A configured Flask app; its pools open when the ASGI server starts it."""
    settings = settings or load_settings()
    configure_logging(settings)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key.get_secret_value(),
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        # Errors always become problem+json, in tests too.
        PROPAGATE_EXCEPTIONS=False,
        TRAP_HTTP_EXCEPTIONS=False,
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False
    app.json.compact = True
    runtime = app.extensions["service.runtime"] = Runtime(settings)
    register_proxies(app, settings)
    register_cookie_sessions(app, settings, runtime.session_redis)
    register_request_ids(app)
    register_error_handlers(app)
    register_routes(app)
    return app
