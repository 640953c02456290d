"""The OpenAPI document, made to say what the API answers: its error body, and the errors each operation can give.

FastAPI documents a 422 in its own shape, which this API never sends, and no other error. The rules below add
the errors that follow from an operation's shape; a route declares the rest itself (`CONFLICT`, health's 503).
"""

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from api.deps import get_actor

REF = "#/components/schemas/{model}"


class FieldError(BaseModel):
    field: str = Field(description="Where: a dotted place like `steps.0.current_ua`, a query parameter, or `body`")
    message: str = Field(description="What is wrong, in plain words")


class ErrorBody(BaseModel):
    """Every error: `detail` in plain words. A 409 of a booking or a session start adds every reason."""

    model_config = ConfigDict(extra="allow")

    detail: str
    errors: list[FieldError] = Field(default_factory=list, description="Each wrong field (422 only)")


class InvalidInputBody(ErrorBody):
    """A 422: `errors` names every wrong field; `detail` joins them."""

    errors: list[FieldError]


def _error(description: str, model: type[BaseModel] = ErrorBody) -> dict[str, Any]:
    schema = {"$ref": REF.format(model=model.__name__)}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


INVALID = _error("Some input is wrong; `errors` names each field and what is wrong with it.", InvalidInputBody)
NOT_LOGGED_IN = _error("Not logged in, or the log-in has expired; for log-in itself, a wrong email or password.")
HELD_BACK = _error(
    "Too many failed log-ins from this address or for this email; `Retry-After` says when to try again."
) | {"headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}}
FORBIDDEN = _error("Your role may not do this.")
NOT_FOUND = _error("There is no such record.")
TOO_LARGE = _error("The request body is larger than 1 MiB.")
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: _error("It conflicts with the records as they are now; `detail` says how."),
}


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` (and /openapi.json) give the corrected document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _corrected(generate(), app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to supply the document


def _corrected(document: dict[str, Any], app: FastAPI) -> dict[str, Any]:
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods or ():
            responses = document["paths"][route.path_format][method.lower()].setdefault("responses", {})
            responses.update({str(status): body for status, body in _errors_of(route).items()})
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    _, definitions = models_json_schema(
        [(ErrorBody, "serialization"), (InvalidInputBody, "serialization")], ref_template=REF
    )
    schemas.update(definitions["$defs"])
    return document


def _errors_of(route: Any) -> dict[int, dict[str, Any]]:
    """The errors an operation of this shape can give."""
    calls = set(_calls(route.dependant))
    errors = {422: INVALID}  # every operation: a NUL anywhere in its input (api.text_input), or a wrong parameter
    if get_actor in calls or OAuth2PasswordRequestForm in calls:
        errors[401] = NOT_LOGGED_IN
    if OAuth2PasswordRequestForm in calls:  # the log-in
        errors[429] = HELD_BACK
    if any(hasattr(call, "permission") for call in calls):
        errors[403] = FORBIDDEN
    if route.dependant.path_params:
        errors[404] = NOT_FOUND
    if route.body_field is not None:
        errors[413] = TOO_LARGE
    return errors


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)
