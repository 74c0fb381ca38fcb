"""Request bodies: JSON parsing with clear 4xx problems, then pydantic validation."""

from __future__ import annotations

import json
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from flask import request
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from service.errors import BadRequest, ContentTooLarge, UnsupportedMediaType, ValidationFailed

Model = TypeVar("Model", bound=BaseModel)
# Byte order marks of UTF-8, UTF-16 (UTF-32 LE starts with the same two bytes) and UTF-32 BE.
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")

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
    "literal_error": "must be one of {expected}",
    "enum": "must be one of {expected}",
}


def parse_body(model: type[Model]) -> Model:
    """Validate the request's JSON object against ``model``."""
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as JSON with 'Content-Type: application/json'.")
    data = _loads(request.get_data(cache=False))
    if not isinstance(data, dict):
        raise ValidationFailed(
            "body: must be a JSON object",
            errors=[{"field": "body", "message": "must be a JSON object"}],
        )
    return _validate(model, data)


FORM_TYPE = "application/x-www-form-urlencoded"
# A form carries a token and a hint (RFC 7662): well below the JSON limit.
MAX_FORM_BYTES = 64 * 1024


def parse_form(model: type[Model]) -> Model:
    """Validate the request's URL-encoded form against ``model``; strict UTF-8, at most MAX_FORM_BYTES."""
    if request.mimetype != FORM_TYPE:
        raise UnsupportedMediaType(f"Send the body as a form with 'Content-Type: {FORM_TYPE}'.")
    if (request.content_length or 0) > MAX_FORM_BYTES:
        raise ContentTooLarge(f"The form must be at most {MAX_FORM_BYTES} bytes.")
    raw = request.stream.read(MAX_FORM_BYTES + 1)  # chunked bodies carry no length to check first
    if len(raw) > MAX_FORM_BYTES:
        raise ContentTooLarge(f"The form must be at most {MAX_FORM_BYTES} bytes.")
    try:
        # Percent-escapes decode to bytes and then strictly as UTF-8: no
        # invalid byte and no surrogate reaches the service.
        pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("The form is not URL-encoded UTF-8 text.") from None
    data: dict[str, Any] = {}
    for name, value in pairs:
        if name not in model.model_fields:
            continue  # RFC 6749 and 7662: unknown parameters are ignored
        if name in data:
            raise BadRequest(f"The form gives {name!r} more than once.")
        data[name] = value
    return _validate(model, data)


def parse_query(model: type[Model]) -> Model:
    """Validate the query string against ``model`` (the first value of each name)."""
    return _validate(model, request.args.to_dict())


def _validate(model: type[Model], data: dict[str, Any]) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        errors = [_field_error(detail) for detail in error.errors(include_url=False)]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise ValidationFailed(detail, errors=errors) from None


def _loads(raw: bytes) -> object:
    """The JSON value of a body that must be UTF-8; 400 for anything else.

    ``json.loads`` on bytes guesses UTF-16 and UTF-32 and skips a UTF-8 BOM,
    so it is given text decoded strictly here instead: the contract says
    UTF-8, and one decoding keeps every string the service holds encodable.
    """
    if raw.startswith(_BOMS):
        raise BadRequest("The body must be UTF-8 JSON without a byte order mark.")
    try:
        text = raw.decode("utf-8")  # strict: refuses invalid bytes and encoded surrogates
    except UnicodeDecodeError as error:
        raise BadRequest(f"The body is not UTF-8 text (byte {error.start}).") from None
    try:
        data = json.loads(text)
    except RecursionError:
        # Werkzeug's get_json only catches ValueError; nesting past the
        # interpreter's recursion limit would otherwise be a 500.
        raise BadRequest("The JSON body is nested too deeply.") from None
    except json.JSONDecodeError as error:
        raise BadRequest(
            f"The body is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None
    if "\\u" in text and _has_lone_surrogate(data):
        # JSON may escape half of a UTF-16 pair: such text cannot be hashed,
        # signed or stored, so it stops here rather than in bcrypt or a driver.
        raise BadRequest("The body is not valid JSON: a string holds an unpaired UTF-16 surrogate.")
    return data


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
        if detail["type"] == "string_too_short" and detail.get("ctx", {}).get("min_length") == 1:
            message = "must not be empty"
    elif detail["type"] == "value_error":
        message = str(detail.get("ctx", {}).get("error", detail["msg"]))
    else:
        message = detail["msg"]
    return {"field": field, "message": message}
