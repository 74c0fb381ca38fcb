"""Every route of the app, derived from the operations its resources declare."""

from __future__ import annotations

import re
from types import ModuleType

from flask import Flask
from werkzeug.routing import BaseConverter, ValidationError

from service import health
from service.auth import resources as auth
from service.auth.email import resources as email
from service.auth.events import resources as auth_events
from service.auth.mfa import resources as mfa
from service.auth.tokens import resources as tokens
from service.notes import resources as notes
from service.openapi import docs
from service.resources import METHODS, Api, AsyncResource, declared, resources_of
from service.users import resources as users

# The modules whose declared resources are served; a new resource in one of them needs nothing else.
MODULES: tuple[ModuleType, ...] = (auth, tokens, mfa, users, notes, health, docs, auth_events, email)
_API = "service.api"
MAX_INT = 2**63 - 1  # ids are signed 64-bit on every backend and driver


class CanonicalInt(BaseConverter):
    """``<int:...>`` for our routes: ASCII digits only, no leading zero, within 64 bits.

    Werkzeug's own ``int`` matches ``\\d``, which takes any Unicode digit
    (Arabic-Indic, fullwidth), and accepts ``012``. Every resource must have
    one URL: any other spelling of an id is a 404.
    """

    regex = r"(?:0|[1-9][0-9]{0,18})"
    openapi = {"type": "integer", "format": "int64", "minimum": 0, "maximum": MAX_INT}

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_INT:
            raise ValidationError()
        return number

    def to_url(self, value: int) -> str:
        return str(int(value))


def register_routes(app: Flask, modules: tuple[ModuleType, ...] = MODULES) -> None:
    """Serve every resource declared in ``modules``, each at its declared path."""
    app.url_map.converters["int"] = CanonicalInt
    app.extensions[_API] = Api(app)
    for module in modules:
        add_resources(app, module)


def add_resources(app: Flask, module: ModuleType) -> None:
    """Serve the resources declared in ``module`` (after ``register_routes``)."""
    api: Api = app.extensions[_API]
    for resource in resources_of(module):
        api.add_resource(resource, _path_of(resource), endpoint=_endpoint(resource))


def _path_of(resource: type[AsyncResource]) -> str:
    paths = {op.path for name in METHODS if (op := declared(resource, name)) is not None}
    # Flask-RESTful serves every method of a class at each of its URLs: one path per class.
    assert len(paths) == 1, f"{resource.__name__} declares {len(paths)} paths: {sorted(paths)}"
    return paths.pop()


def _endpoint(resource: type[AsyncResource]) -> str:
    # NoteItem -> note_item, for url_for.
    return re.sub(r"(?<!^)(?=[A-Z])", "_", resource.__name__).lower()
