"""The async base resource and the API object every resource is registered on."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request
from flask_restful import Api as RestfulApi
from flask_restful import Resource

from service.errors import problem_for


class AsyncResource(Resource):
    """A Flask-RESTful resource whose methods may be ``async def``.

    ``Resource.dispatch_request`` calls the method and uses what it returns,
    so an async method would hand back an un-awaited coroutine. Going through
    ``current_app.ensure_sync`` (as Flask's ``MethodView`` does) runs it on
    the server's event loop and waits for the result.
    """

    def dispatch_request(self, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self, request.method.lower(), None)
        if method is None and request.method == "HEAD":
            method = getattr(self, "get", None)
        assert method is not None, f"Unimplemented method {request.method!r}"
        decorators = self.method_decorators
        if isinstance(decorators, dict):
            decorators = decorators.get(request.method.lower(), [])
        for decorator in decorators:
            method = decorator(method)
        result = current_app.ensure_sync(method)(*args, **kwargs)
        if isinstance(result, Response):
            return result
        return current_app.make_response(result)


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
