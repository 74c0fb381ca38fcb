"""Build the OpenAPI 3.1 document from the app's routes and the operations their resources declare."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from service.auth.guard import CSRF_HEADER
from service.errors import PROBLEM_JSON, Problem, title
from service.resources import API, METHODS, Operation, declared

REF = "#/components/schemas/{model}"
_UNSAFE = {"post", "put", "patch", "delete"}
_STRING = {"type": "string", "minLength": 1}
_ERROR_HEADERS = {
    401: {"WWW-Authenticate": "`Bearer`: how to authenticate."},
    429: {"Retry-After": "Seconds until another attempt may succeed."},
    503: {"Retry-After": "Seconds to wait before trying again."},
}
_REQUIRED_ERROR_HEADERS = {429}
# What each error typically says, for the examples of the shared responses; an
# operation that declares its own detail for a status gets a response of its own.
_EXAMPLE_DETAILS = {
    400: "The body is not valid JSON: Expecting value (line 1, column 1)",
    401: "The token has been revoked.",
    403: f"Send the session's CSRF token in the {CSRF_HEADER} header.",
    404: "The requested URL was not found on the server.",
    409: "The request conflicts with the current state.",
    413: "The body must be at most 1048576 bytes.",
    415: "Send the body as JSON with 'Content-Type: application/json'.",
    422: "title: must be at least 1 characters",
    429: "Too many login attempts; try again in 60 seconds.",
    503: "redis is unavailable, try again shortly",
}
_EXAMPLE_FIELD_ERRORS = {422: [{"field": "title", "message": "must be at least 1 characters"}]}


@dataclass(frozen=True)
class Route:
    """One documented operation: the HTTP method, the OpenAPI path and its parameters, the declaration."""

    method: str
    path: str
    parameters: tuple[tuple[str, dict[str, Any]], ...]
    op: Operation


def routes_of(app: Flask) -> list[Route]:
    """Every documented operation the app serves, in the order the routes were added."""
    routes = []
    for rule in app.url_map.iter_rules():
        resource = getattr(app.view_functions[rule.endpoint], "view_class", None)
        path, parameters = _openapi_path(app, rule.rule)
        for method in METHODS:
            op = declared(resource, method) if resource is not None else None
            if op is not None and op.documented and method.upper() in (rule.methods or ()):
                routes.append(Route(method, path, parameters, op))
    return routes


def _openapi_path(app: Flask, rule: str) -> tuple[str, tuple[tuple[str, dict[str, Any]], ...]]:
    parameters = []
    for converter, name in re.findall(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", rule):
        schema = getattr(app.url_map.converters.get(converter or "default"), "openapi", _STRING)
        parameters.append((name, dict(schema)))
    return re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule), tuple(parameters)


def build_document(app: Flask, *, cookie_name: str = "session", version: str = "1.0.0") -> dict[str, Any]:
    """The whole document; computed once per app by the view that serves it."""
    routes = routes_of(app)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method] = _operation(route)
    shared = sorted(
        {status for route in routes for status in _errors(route) if status not in route.op.errors}
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Notes API",
            "version": version,
            "description": "Accounts, bearer tokens and cookie sessions with server-side revocation, "
            "and a user-owned notes resource. Every error is `application/problem+json` (RFC 9457).",
        },
        "tags": [{"name": name} for name in dict.fromkeys(route.op.tag for route in routes)],
        "paths": paths,
        "components": {
            "schemas": _component_schemas(routes),
            "responses": {_response_name(status): _problem_response(status) for status in shared},
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "cookieSession": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": cookie_name,
                    "description": f"Set by `POST {API}/session`; unsafe methods also need the CSRF header.",
                },
                "csrfToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": CSRF_HEADER,
                    "description": "The `csrf_token` from the cookie login, on POST, PUT, PATCH and DELETE.",
                },
            },
        },
    }


def _component_schemas(routes: list[Route]) -> dict[str, Any]:
    models: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(Problem, "serialization"): None}
    for route in routes:
        if route.op.body is not None:
            models[(route.op.body, "validation")] = None
        if route.op.form is not None:
            models[(route.op.form, "validation")] = None
        if route.op.returns is not None:
            models[(route.op.returns, "serialization")] = None
        for model in route.op.also.values():
            models[(model, "serialization")] = None
    _, definitions = models_json_schema(list(models), ref_template=REF)
    found: dict[str, Any] = definitions.get("$defs", {})
    return found


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _operation(route: Route) -> dict[str, Any]:
    op = route.op
    spec: dict[str, Any] = {
        "operationId": _operation_id(route),
        "summary": op.summary,
        "tags": [op.tag],
    }
    parameters = _path_parameters(route) + _query_parameters(op.query)
    if parameters:
        spec["parameters"] = parameters
    if op.body is not None:
        spec["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(op.body)}}}
    if op.form is not None:
        form = {"application/x-www-form-urlencoded": {"schema": _ref(op.form)}}
        spec["requestBody"] = {"required": True, "content": form}
    if op.scopes:
        spec["x-scopes"] = list(op.scopes)  # what a personal access token needs
    security = _security(route)
    if security:
        spec["security"] = security
    responses: dict[str, Any] = {str(op.status): _success(op)}
    for status, model in op.also.items():  # e.g. a login's 202 asking for the second factor
        responses[str(status)] = {
            "description": title(status),
            "content": {op.media_type: {"schema": _ref(model)}},
        }
    for status in _errors(route):
        if status in op.errors:
            responses[str(status)] = _problem_response(status, op.errors[status])
        else:
            responses[str(status)] = {"$ref": f"#/components/responses/{_response_name(status)}"}
    spec["responses"] = responses
    return spec


def _operation_id(route: Route) -> str:
    words = re.findall(r"[a-z0-9]+", route.path.removeprefix(API).replace("-", "_").lower())
    return "_".join([route.method, *words])


def _path_parameters(route: Route) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": schema} for name, schema in route.parameters
    ]


def _query_parameters(model: type[BaseModel] | None) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema["properties"].items():
        prop = {key: value for key, value in prop.items() if key != "title"}
        # An optional query value is absent rather than null.
        prop = next((s for s in prop.pop("anyOf", []) if s.get("type") != "null"), {}) | prop
        if prop.get("default", 0) is None:
            del prop["default"]
        parameters.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    return parameters


def _security(route: Route) -> list[dict[str, list[str]]]:
    op = route.op
    if op.auth == "none":
        return []
    bearer: dict[str, list[str]] = {"bearerAuth": []}
    if op.auth == "bearer":
        return [bearer]
    cookie: dict[str, list[str]] = {"cookieSession": []}
    if route.method in _UNSAFE:
        cookie["csrfToken"] = []
    return [cookie] if op.auth == "cookie" else [bearer, cookie]


def _success(op: Operation) -> dict[str, Any]:
    response: dict[str, Any] = {"description": title(op.status)}
    if op.returns is not None:
        schema = {"type": "array", "items": _ref(op.returns)} if op.many else _ref(op.returns)
        response["content"] = {op.media_type: {"schema": schema}}
    elif op.status != 204:
        schema = {"type": "object"} if op.media_type.endswith("json") else {"type": "string"}
        response["content"] = {op.media_type: {"schema": schema}}
    if op.links:
        response["links"] = op.links
    if op.headers:
        response["headers"] = {
            name: {"description": text, "required": name == "Location", "schema": {"type": "string"}}
            for name, text in op.headers.items()
        }
    return response


def _errors(route: Route) -> list[int]:
    """The statuses an operation can answer with: those it declares and those its declaration implies."""
    op = route.op
    statuses = set(op.errors)
    if op.body is not None or op.form is not None:
        statuses |= {400, 413, 415, 422}
    if op.scopes:
        statuses.add(403)  # a personal access token without the scope
    if op.query is not None:
        statuses.add(422)
    if op.auth != "none":
        statuses.add(401)
        if op.auth in ("either", "cookie") and route.method in _UNSAFE:
            statuses.add(403)  # a cookie session without its CSRF header
    if op.dependencies:
        statuses.add(503)
    return sorted(statuses)


def _response_name(status: int) -> str:
    return "".join(word.capitalize() for word in re.findall(r"[A-Za-z]+", title(status)))


def _problem_response(status: int, detail: str | None = None) -> dict[str, Any]:
    """A problem+json response whose example shows this status, its title and a fitting detail."""
    example: dict[str, Any] = {
        "type": "about:blank",
        "title": title(status),
        "status": status,
        "detail": detail or _EXAMPLE_DETAILS.get(status, title(status)),
    }
    if status in _EXAMPLE_FIELD_ERRORS and detail is None:
        example["errors"] = _EXAMPLE_FIELD_ERRORS[status]
    schema = {"$ref": REF.format(model=Problem.__name__)}
    response: dict[str, Any] = {
        "description": detail or title(status),
        "content": {PROBLEM_JSON: {"schema": schema, "example": example}},
    }
    if status in _ERROR_HEADERS:
        response["headers"] = {
            name: {
                "description": text,
                "required": status in _REQUIRED_ERROR_HEADERS,
                "schema": {"type": "string"},
            }
            for name, text in _ERROR_HEADERS[status].items()
        }
    return response
