"""One family of errors that carry their HTTP status; one handler turns them into responses.

The family is defined in db/errors.py, where the device gateway can raise them too; here are the two that only
the HTTP side has (a log-in missing, too many tries) and the handlers."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from api.validation_messages import describe_validation_errors
from db.errors import AppError, Conflict, Forbidden, InvalidInput, NotFound

__all__ = [
    "AppError",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotAuthenticated",
    "NotFound",
    "TooManyRequests",
    "error_response",
    "install_error_handlers",
]


class NotAuthenticated(AppError):
    status_code = 401


class TooManyRequests(AppError):
    """Refused for a while (too many failed log-ins); says when to try again."""

    status_code = 429

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


def install_error_handlers(app: FastAPI) -> None:
    # Starlette types every handler as taking Exception; each of ours takes the class it is registered for
    app.add_exception_handler(AppError, _app_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(ValidationError, _validation_error)  # type: ignore[arg-type]


async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
    return error_response(exc)


def error_response(exc: AppError) -> JSONResponse:
    """The API's error body: `detail`, and `errors` naming the field of an invalid input."""
    body: dict[str, Any] = {"detail": exc.detail, **exc.extra}
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotAuthenticated) else None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after_s)}
    if isinstance(exc, InvalidInput):
        body["errors"] = [{"field": exc.field, "message": exc.message}]
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


async def _validation_error(_request: Request, exc: RequestValidationError | ValidationError) -> JSONResponse:
    errors = describe_validation_errors(exc.errors())
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return JSONResponse({"detail": detail, "errors": errors}, status_code=422)
