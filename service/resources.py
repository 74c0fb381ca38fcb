"""The async base resource and the API object every resource is registered on."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request
from flask_restful import Api as RestfulApi
from flask_restful import Resource

from service.errors import problem_for


class AsyncResource(Resource):
    """A Flask-RESTful resource whose methods may be ``async def``.

    ``Resource.dispatch_request`` calls the method and uses what it returns,
    so an async method would hand back an un-awaited coroutine. Going through
    the app's ``async_to_sync``, as ``ensure_sync`` in Flask's ``MethodView``
    does, runs it on the server's event loop and waits for the result.
    """

    def dispatch_request(self, *args: Any, **kwargs: Any) -> Any:
        name = request.method.lower()
        if name == "head" and not hasattr(self, "head"):
            name = "get"
        call = _prepared(type(self), name)
        result = call(self, *args, **kwargs)
        if isinstance(result, Response):
            return result
        return current_app.make_response(result)


@functools.cache
def _prepared(resource: type[AsyncResource], name: str) -> Callable[..., Any]:
    """The resource's method ``name`` with its ``method_decorators``, callable from sync code.

    Built once per resource class and method: Flask-RESTful applies the
    decorators to the bound method on every request, and ``ensure_sync``
    inspects and wraps it again each time (about 30 µs together). Here the
    decorators get the plain function, called with the resource first.
    """
    function = getattr(resource, name, None)
    assert function is not None, f"Unimplemented method {name.upper()!r}"
    decorators = resource.method_decorators
    if isinstance(decorators, dict):
        decorators = decorators.get(name, [])
    for decorator in decorators:
        function = decorator(function)
    if not inspect.iscoroutinefunction(function):
        return function

    def call(*args: Any, **kwargs: Any) -> Any:
        # Looked up per call: the app decides how to wait (the greenlet bridge or a thread).
        return current_app.async_to_sync(function)(*args, **kwargs)

    return call


def no_content() -> Response:
    """An empty 204, with no body and no content type."""
    response = Response(status=204)
    del response.headers["Content-Type"]
    return response


class Api(RestfulApi):
    """Flask-RESTful's Api with its error router sent to our problem+json path.

    Flask-RESTful replaces the app's exception handling with its own; without
    this, anything that is not an ``HTTPException`` becomes a bare 500.
    """

    def handle_error(self, e: Exception) -> Response:
        return problem_for(e)
