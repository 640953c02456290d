"""Pydantic's validation errors, told in words a receptionist understands."""

from collections.abc import Sequence
from typing import Any

DATE_EXAMPLE = "a date like 1990-04-23"
DATETIME_EXAMPLE = "a date and time with its offset, like 2026-11-20T10:00:00+00:00"

_FIXED_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a field we know",
    "json_invalid": "is not valid JSON",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "list_type": "must be a list",
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "uuid_type": "must be an id like 3f2b6a1e-8c4d-4e57-9a0b-1c2d3e4f5a6b",
    "uuid_parsing": "must be an id like 3f2b6a1e-8c4d-4e57-9a0b-1c2d3e4f5a6b",
    "date_type": f"must be {DATE_EXAMPLE}",
    "date_parsing": f"must be {DATE_EXAMPLE}",
    "date_from_datetime_parsing": f"must be {DATE_EXAMPLE}",
    "date_from_datetime_inexact": f"must be {DATE_EXAMPLE}, without a time",
    "datetime_type": f"must be {DATETIME_EXAMPLE}",
    "datetime_parsing": f"must be {DATETIME_EXAMPLE}",
    "datetime_from_date_parsing": f"must be {DATETIME_EXAMPLE}",
    "timezone_aware": f"must be {DATETIME_EXAMPLE}",
    "time_type": "must be a time like 08:30",
    "time_parsing": "must be a time like 08:30",
}


def describe_validation_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    """One {field, message} per error, the field as a dotted path without the body/query prefix."""
    return [{"field": _field_name(e), "message": _message(e)} for e in errors]


def _field_name(error: dict[str, Any]) -> str:
    if error.get("type") == "json_invalid":
        return "body"  # its location ends in a character offset, not a field
    parts = [str(p) for p in error.get("loc", ())]
    if len(parts) > 1 and parts[0] in {"body", "query", "path", "header", "form", "cookie"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind in _FIXED_MESSAGES:
        return _FIXED_MESSAGES[kind]
    if kind == "string_too_short":
        minimum = ctx.get("min_length")
        return "must not be empty" if minimum == 1 else f"must be at least {minimum} characters"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind in {"greater_than_equal", "greater_than", "less_than_equal", "less_than"}:
        words = {
            "greater_than_equal": ("at least", "ge"),
            "greater_than": ("more than", "gt"),
            "less_than_equal": ("at most", "le"),
            "less_than": ("less than", "lt"),
        }[kind]
        return f"must be {words[0]} {ctx.get(words[1])}"
    if kind in {"enum", "literal_error"}:
        return f"must be one of {ctx.get('expected', '')}"
    if kind == "value_error":
        return str(ctx.get("error", error.get("msg", "is not valid")))
    return str(error.get("msg", "is not valid")).lower()
