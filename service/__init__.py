"""The application factory."""

from __future__ import annotations

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from config.settings import Settings, load_settings
from service.auth.cookie_store import register_cookie_records
from service.errors import register_error_handlers
from service.logs import configure_logging
from service.proxies import register_proxies
from service.routes import register_routes
from service.serving.runtime import Runtime


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
    provider = app.json
    assert isinstance(provider, DefaultJSONProvider)
    provider.sort_keys = False
    provider.compact = True
    runtime = app.extensions["service.runtime"] = Runtime(settings)
    runtime.mfa_cipher  # noqa: B018  (second factor: a missing or bad MFA_ENCRYPTION_KEYS stops the start)
    register_proxies(app, settings)
    register_cookie_records(app, settings, runtime.cookie_record_redis)
    register_error_handlers(app)
    register_routes(app)
    return app
