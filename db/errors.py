"""The errors a rule can raise, in words a person understands, each with the HTTP status the API answers with.

They live here, beside the models, so that the API's services and the device gateway raise the same ones;
api/errors.py turns them into responses.
"""

from typing import Any


class AppError(Exception):
    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra: dict[str, Any] = {}  # more of the body beside detail, e.g. every conflict of a booking


class Forbidden(AppError):
    status_code = 403


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409


class InvalidInput(AppError):
    """Input that is well-formed but breaks a rule; names the field it is about."""

    status_code = 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
