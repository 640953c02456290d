"""One family of errors that carry their HTTP status; one handler turns them into responses."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from api.validation_messages import describe_validation_errors


class AppError(Exception):
    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra: dict[str, Any] = {}  # more of the body beside detail, e.g. every conflict of a booking


class NotAuthenticated(AppError):
    status_code = 401


class Forbidden(AppError):
    status_code = 403


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409


class TooManyRequests(AppError):
    """Refused for a while (too many failed log-ins); says when to try again."""

    status_code = 429

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class InvalidInput(AppError):
    """Input that is well-formed but breaks a rule; names the field it is about."""

    status_code = 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def install_error_handlers(app: FastAPI) -> None:
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
