"""Every path of the API, in one table."""

from __future__ import annotations

from flask import Flask

from service.auth.resources import (
    CookieSession,
    Login,
    Logout,
    LogoutAll,
    Refresh,
    Register,
    SessionItem,
    Sessions,
)
from service.health import Health, Ready
from service.metrics import metrics_view
from service.notes.resources import NoteItem, NoteList
from service.openapi import docs
from service.resources import Api
from service.users.resources import Me, Password

API = "/api/v1"


def register_routes(app: Flask) -> None:
    api = Api(app)
    api.add_resource(Register, f"{API}/auth/register", endpoint="register")
    api.add_resource(Login, f"{API}/auth/login", endpoint="login")
    api.add_resource(Refresh, f"{API}/auth/refresh", endpoint="refresh")
    api.add_resource(Logout, f"{API}/auth/logout", endpoint="logout")
    api.add_resource(LogoutAll, f"{API}/auth/logout-all", endpoint="logout_all")
    api.add_resource(Sessions, f"{API}/auth/sessions", endpoint="sessions")
    api.add_resource(SessionItem, f"{API}/auth/sessions/<string:session_id>", endpoint="session_item")
    api.add_resource(CookieSession, f"{API}/session", endpoint="cookie_session")
    api.add_resource(Me, f"{API}/users/me", endpoint="me")
    api.add_resource(Password, f"{API}/users/me/password", endpoint="password")
    api.add_resource(NoteList, f"{API}/notes", endpoint="notes")
    api.add_resource(NoteItem, f"{API}/notes/<int:note_id>", endpoint="note")
    api.add_resource(Health, "/healthz", endpoint="healthz")
    api.add_resource(Ready, "/readyz", endpoint="readyz")
    app.add_url_rule("/metrics", "metrics", metrics_view)
    app.add_url_rule("/openapi.json", "openapi", docs.openapi_json)
    app.add_url_rule("/docs", "docs", docs.docs_page)
    app.add_url_rule("/docs/assets/<path:filename>", "docs_assets", docs.docs_asset)
