"""Settings errors: one line that names the variable, says what it must be, and never echoes a secret."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails


class SettingsError(ValueError):
    """A setting is missing or invalid; the message says what to set."""


# Where a bound alone would read badly, what the value means.
_RULES = {"workers": "must be 0 (one per CPU core) or more"}
# Values never echoed in an error message.
SECRET_FIELDS = {
    "secret_key",
    "database_url",
    "redis_url",
    "mail_queue_redis_url",
    "smtp_url",
    "introspection_clients",
    "mfa_encryption_keys",
}


def describe(error: ErrorDetails, fields: Mapping[str, FieldInfo]) -> str:
    """One line naming the setting, what it must be, and the value given (unless secret)."""
    if not error["loc"]:
        return str(error.get("ctx", {}).get("error", error["msg"]))
    field = str(error["loc"][0])
    name, kind, ctx = field.upper(), error["type"], error.get("ctx", {})
    given = "" if field in SECRET_FIELDS else f", not {error['input']!r}"
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return f"{name} must be a whole number{given}"
    if kind in ("float_parsing", "float_type"):
        return f"{name} must be a number{given}"
    if kind in ("bool_parsing", "bool_type"):
        return f"{name} must be true or false{given}"
    if kind == "literal_error":
        return f"{name} must be one of {ctx['expected'].replace(' or ', ', ')}{given}"
    if kind in ("greater_than", "greater_than_equal", "less_than_equal", "less_than"):
        return f"{name} {_RULES.get(field) or _bounds(fields[field])}"
    if kind == "value_error":
        return f"{name} {ctx['error']}"
    if kind == "extra_forbidden":
        return f"{name} is not a setting"
    return f"{name}: {error['msg']}"


def _bounds(info: FieldInfo) -> str:
    limits: dict[str, Any] = {}
    for rule in info.metadata:
        limits |= {
            key: getattr(rule, key) for key in ("gt", "ge", "le") if getattr(rule, key, None) is not None
        }
    if "ge" in limits and "le" in limits:
        return f"must be between {limits['ge']} and {limits['le']}"
    if limits.get("gt") == 0:
        return "must be a positive number"
    return f"must be {limits.get('ge', 0)} or more"
