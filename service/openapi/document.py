"""Build the OpenAPI 3.1 document from the operation table and the pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from service.errors import PROBLEM_JSON, Problem, title
from service.openapi.operations import OPERATIONS, Operation

REF = "#/components/schemas/{model}"
CSRF_HEADER = "X-CSRF-Token"
_UNSAFE = {"post", "put", "patch", "delete"}
# Operations that touch neither the database nor Redis cannot answer 503.
_NO_DEPENDENCIES = {"/healthz", "/openapi.json", "/docs"}
_PATH_PARAMETERS = {
    "note_id": {"type": "integer", "format": "int64", "minimum": 1},
    "session_id": {"type": "string", "minLength": 1},
}
_ERROR_HEADERS = {
    401: {"WWW-Authenticate": "`Bearer`: how to authenticate."},
    429: {"Retry-After": "Seconds until another attempt may succeed."},
    503: {"Retry-After": "Seconds to wait before trying again."},
}
_REQUIRED_ERROR_HEADERS = {429}


def build_document(*, cookie_name: str = "session", version: str = "1.0.0") -> dict[str, Any]:
    """The whole document; computed once per app by the view that serves it."""
    schemas = _component_schemas()
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method] = _operation(operation)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Notes API",
            "version": version,
            "description": "Accounts, bearer tokens and cookie sessions with server-side revocation, "
            "and a user-owned notes resource. Every error is `application/problem+json` (RFC 9457).",
        },
        "tags": [{"name": name} for name in dict.fromkeys(op.tag for op in OPERATIONS)],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {_response_name(status): _problem_response(status) for status in _all_errors()},
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "cookieSession": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": cookie_name,
                    "description": "Set by `POST /api/v1/session`; unsafe methods also need the CSRF header.",
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


def _component_schemas() -> dict[str, Any]:
    models: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(Problem, "serialization"): None}
    for operation in OPERATIONS:
        if operation.body is not None:
            models[(operation.body, "validation")] = None
        if operation.returns is not None:
            models[(operation.returns, "serialization")] = None
    _, definitions = models_json_schema(list(models), ref_template=REF)
    return definitions.get("$defs", {})


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _operation(op: Operation) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "operationId": _operation_id(op),
        "summary": op.summary,
        "tags": [op.tag],
    }
    parameters = _path_parameters(op.path) + _query_parameters(op.query)
    if parameters:
        spec["parameters"] = parameters
    if op.body is not None:
        spec["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(op.body)}}}
    security = _security(op)
    if security:
        spec["security"] = security
    responses: dict[str, Any] = {str(op.status): _success(op)}
    for status in _errors(op):
        responses[str(status)] = {"$ref": f"#/components/responses/{_response_name(status)}"}
    spec["responses"] = responses
    return spec


def _operation_id(op: Operation) -> str:
    words = re.findall(r"[a-z0-9]+", op.path.removeprefix("/api/v1").replace("-", "_").lower())
    return "_".join([op.method, *words])


def _path_parameters(path: str) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": _PATH_PARAMETERS[name]}
        for name in re.findall(r"{(\w+)}", path)
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


def _security(op: Operation) -> list[dict[str, list[str]]]:
    if op.auth == "none":
        return []
    bearer = {"bearerAuth": []}
    if op.auth == "bearer":
        return [bearer]
    cookie: dict[str, list[str]] = {"cookieSession": []}
    if op.method in _UNSAFE:
        cookie["csrfToken"] = []
    return [cookie] if op.auth == "cookie" else [bearer, cookie]


def _success(op: Operation) -> dict[str, Any]:
    response: dict[str, Any] = {"description": title(op.status)}
    if op.returns is not None:
        schema = {"type": "array", "items": _ref(op.returns)} if op.many else _ref(op.returns)
        response["content"] = {op.media_type: {"schema": schema}}
    elif op.status != 204:
        schema = {"type": "string"} if op.media_type == "text/html" else {"type": "object"}
        response["content"] = {op.media_type: {"schema": schema}}
    if op.links:
        response["links"] = op.links
    if op.headers:
        response["headers"] = {
            name: {"description": text, "required": name == "Location", "schema": {"type": "string"}}
            for name, text in op.headers.items()
        }
    return response


def _errors(op: Operation) -> list[int]:
    statuses = set(op.errors)
    if op.body is not None:
        statuses |= {400, 413, 415, 422}
    if op.auth != "none":
        statuses.add(401)
        if op.auth in ("user", "cookie") and op.method in _UNSAFE:
            statuses.add(403)  # a cookie session without its CSRF header
    if op.path not in _NO_DEPENDENCIES:
        statuses.add(503)
    return sorted(statuses)


def _all_errors() -> list[int]:
    return sorted({status for op in OPERATIONS for status in _errors(op)})


def _response_name(status: int) -> str:
    return "".join(word.capitalize() for word in re.findall(r"[A-Za-z]+", title(status)))


def _problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": title(status),
        "content": {PROBLEM_JSON: {"schema": {"$ref": REF.format(model=Problem.__name__)}}},
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
