"""Request bodies: JSON parsing with clear 4xx problems, then pydantic validation."""

from __future__ import annotations

import json
from typing import TypeVar

from flask import request
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from service.errors import BadRequest, UnsupportedMediaType, ValidationFailed

Model = TypeVar("Model", bound=BaseModel)

# Messages in the contract's voice ("password: must be at least 8 characters").
_MESSAGES = {
    "missing": "is required",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "bool_type": "must be a boolean",
    "model_type": "must be an object",
    "dict_type": "must be an object",
    "string_too_short": "must be at least {min_length} characters",
    "string_too_long": "must be at most {max_length} characters",
    "string_pattern_mismatch": "has characters that are not allowed",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "extra_forbidden": "is not allowed",
}


def parse_body(model: type[Model]) -> Model:
    """Validate the request's JSON object against ``model``."""
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as JSON with 'Content-Type: application/json'.")
    raw = request.get_data(cache=False)
    try:
        data = json.loads(raw)
    except RecursionError:
        # Werkzeug's get_json only catches ValueError; nesting past the
        # interpreter's recursion limit would otherwise be a 500.
        raise BadRequest("The JSON body is nested too deeply.") from None
    except ValueError as error:
        raise BadRequest(f"The body is not valid JSON: {_json_reason(error)}") from None
    if (b"\\u" in raw or b"\xed" in raw) and _has_lone_surrogate(data):
        # JSON may escape half of a UTF-16 pair, and Python's decoder lets
        # encoded surrogates through: such text cannot be hashed or stored.
        raise BadRequest("The body is not valid JSON: a string holds an unpaired UTF-16 surrogate.")
    if not isinstance(data, dict):
        raise ValidationFailed(
            "body: must be a JSON object",
            errors=[{"field": "body", "message": "must be a JSON object"}],
        )
    return _validate(model, data)


def parse_query(model: type[Model]) -> Model:
    """Validate the query string against ``model`` (the first value of each name)."""
    return _validate(model, request.args.to_dict())


def _validate(model: type[Model], data: dict) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        errors = [_field_error(detail) for detail in error.errors(include_url=False)]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise ValidationFailed(detail, errors=errors) from None


def _has_lone_surrogate(data: object) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False


def _field_error(detail: ErrorDetails) -> dict[str, str]:
    field = ".".join(str(part) for part in detail["loc"]) or "body"
    template = _MESSAGES.get(detail["type"])
    if template is not None:
        message = template.format(**detail.get("ctx", {}))
    elif detail["type"] == "value_error":
        message = str(detail.get("ctx", {}).get("error", detail["msg"]))
    else:
        message = detail["msg"]
    return {"field": field, "message": message}


def _json_reason(error: ValueError) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} (line {error.lineno}, column {error.colno})"
    return "it is not UTF-8 text" if isinstance(error, UnicodeDecodeError) else str(error)
