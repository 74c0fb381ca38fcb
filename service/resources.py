"""Declared operations: the async base resource, the ``operation`` decorator and the Api.

Each resource method carries one ``Operation``: its path, what it takes, who
may call it, what it answers and which errors it can give. Routes
(``service.routes``) and the OpenAPI document (``service.openapi``) are both
derived from these declarations, so neither can drift from the code.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from flask import Response, current_app, request
from flask_restful import Api as RestfulApi
from flask_restful import Resource
from pydantic import BaseModel

from service.auth.guard import authenticated
from service.errors import problem_for
from service.validation import parse_body, parse_form, parse_query

API = "/api/v1"
METHODS = ("get", "post", "put", "patch", "delete")
# Who may call: anyone, a bearer token only, a cookie session only, or either of the two.
Auth = Literal["none", "bearer", "cookie", "either"]
Method = TypeVar("Method", bound=Callable[..., Any])


@dataclass(frozen=True)
class Operation:
    """Everything about one operation; set on a resource method by ``operation``."""

    path: str  # a Werkzeug rule: f"{API}/notes/<int:note_id>"
    summary: str
    tag: str
    auth: Auth = "none"
    body: type[BaseModel] | None = None  # parsed from the JSON body, passed to the method
    query: type[BaseModel] | None = None  # parsed from the query string, passed after the body
    form: type[BaseModel] | None = None  # parsed from a URL-encoded form body, passed like ``body``
    # Personal access tokens may call only operations declaring scopes, holding one of them.
    scopes: tuple[str, ...] = ()
    status: int = 200
    returns: type[BaseModel] | None = None  # what the method's result is serialised as
    many: bool = False  # the answer is a JSON array of ``returns``
    errors: Mapping[int, str] = field(default_factory=dict)  # status -> an example detail
    headers: Mapping[str, str] = field(default_factory=dict)  # success headers -> description
    media_type: str = "application/json"
    links: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # OpenAPI links
    also: Mapping[int, type[BaseModel]] = field(default_factory=dict)  # other successes: status -> model
    dependencies: bool = True  # touches the database or Redis, so it can answer 503
    documented: bool = True  # False only for the docs page's static files


def operation(
    path: str,
    summary: str,
    *,
    tag: str | None = None,
    auth: Auth = "none",
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    form: type[BaseModel] | None = None,
    scopes: tuple[str, ...] = (),
    status: int = 200,
    returns: type[BaseModel] | None = None,
    many: bool = False,
    errors: Mapping[int, str] | None = None,
    headers: Mapping[str, str] | None = None,
    media_type: str = "application/json",
    links: Mapping[str, Mapping[str, Any]] | None = None,
    also: Mapping[int, type[BaseModel]] | None = None,
    dependencies: bool = True,
    documented: bool = True,
) -> Callable[[Method], Method]:
    """Declare the operation a resource method implements.

    The method receives the parsed ``body`` model, then the ``query`` model,
    then the path's values as keywords; it returns what ``returns`` validates
    (or that and a dict of headers), ``None`` for a 204, or a ``Response``.
    The tag defaults to the first path segment under the API prefix.
    """
    declared = Operation(
        path=path,
        summary=summary,
        tag=tag or _default_tag(path),
        auth=auth,
        body=body,
        query=query,
        form=form,
        scopes=tuple(scopes),
        status=status,
        returns=returns,
        many=many,
        errors=dict(errors or {}),
        headers=dict(headers or {}),
        media_type=media_type,
        links=dict(links or {}),
        also=dict(also or {}),
        dependencies=dependencies,
        documented=documented,
    )

    def declare(method: Method) -> Method:
        if auth != "none" or body is not None or query is not None or form is not None:
            assert inspect.iscoroutinefunction(method), f"{method.__qualname__} must be async"
        method.__operation__ = declared  # type: ignore[attr-defined]
        return method

    return declare


def declared(resource: type[Resource], name: str) -> Operation | None:
    """The operation declared on ``resource``'s method ``name``, if any."""
    return getattr(getattr(resource, name, None), "__operation__", None)


def _default_tag(path: str) -> str:
    if not path.startswith(f"{API}/"):
        return "operations"
    return path.removeprefix(f"{API}/").split("/", 1)[0]


class AsyncResource(Resource):
    """A Flask-RESTful resource whose methods are declared operations, and may be ``async def``.

    ``Resource.dispatch_request`` calls the method and uses what it returns,
    so an async method would hand back an un-awaited coroutine. Going through
    the app's ``async_to_sync``, as ``ensure_sync`` in Flask's ``MethodView``
    does, runs it on the server's event loop and waits for the result.
    """

    def dispatch_request(self, *args: Any, **kwargs: Any) -> Any:
        name = request.method.lower()
        if name == "head" and not hasattr(self, "head"):
            name = "get"
        op, call = _prepared(type(self), name)  # type: ignore[arg-type]  # flask_restful is untyped
        result = call(self, *args, **kwargs)
        if isinstance(result, Response):
            return result
        return current_app.make_response(_answer(op, result))


@functools.cache
def _prepared(resource: type[AsyncResource], name: str) -> tuple[Operation, Callable[..., Any]]:
    """The method's operation, and the method with its declared auth and inputs, callable from sync code.

    Built once per resource class and method: wrapping and inspecting on
    every request would cost tens of microseconds.
    """
    method = getattr(resource, name, None)
    assert method is not None, f"Unimplemented method {name.upper()!r}"
    op = declared(resource, name)
    assert op is not None, f"{resource.__name__}.{name} declares no operation"
    if not inspect.iscoroutinefunction(method):
        return op, method

    async def run(self: AsyncResource, *args: Any, **kwargs: Any) -> Any:
        # Parsed after authentication: a caller without credentials learns nothing about the body.
        inputs = []
        if op.body is not None:
            inputs.append(parse_body(op.body))
        if op.form is not None:
            inputs.append(parse_form(op.form))
        if op.query is not None:
            inputs.append(parse_query(op.query))
        return await method(self, *inputs, *args, **kwargs)

    function = run if op.auth == "none" else authenticated(run, op.auth, op.scopes)

    def call(*args: Any, **kwargs: Any) -> Any:
        # Looked up per call: the app decides how to wait on the loop.
        return current_app.async_to_sync(function)(*args, **kwargs)

    return op, call


def _answer(op: Operation, result: Any) -> Any:
    """The declared status, the result serialised as the declared model, and any headers."""
    body, headers = result if isinstance(result, tuple) else (result, {})
    if op.status == 204:
        response = no_content()
        response.headers.update(headers)
        return response
    return _serialised(op, body), op.status, headers


def _serialised(op: Operation, body: Any) -> Any:
    if op.returns is None:
        return body
    if op.many:
        return [_dump(op.returns, item) for item in body]
    return _dump(op.returns, body)


def _dump(model: type[BaseModel], value: Any) -> Any:
    if not isinstance(value, model):
        value = model.model_validate(value)
    return value.model_dump(mode="json")


def no_content() -> Response:
    """An empty 204, with no body and no content type."""
    response = Response(status=204)
    del response.headers["Content-Type"]
    return response


def resources_of(module: Any) -> list[type[AsyncResource]]:
    """The resources defined in ``module`` that declare at least one operation."""
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, AsyncResource)
        and value.__module__ == module.__name__
        and any(declared(value, name) for name in METHODS)
    ]


class Api(RestfulApi):
    """Flask-RESTful's Api with its error router sent to our problem+json path.

    Flask-RESTful replaces the app's exception handling with its own; without
    this, anything that is not an ``HTTPException`` becomes a bare 500.
    """

    def handle_error(self, e: Exception) -> Response:
        return problem_for(e)
