"""Starlette's and FastAPI's own refusals (no such address, wrong method, unreadable body) in the API's shape."""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from api.errors import InvalidInput, error_response

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def install_http_error_handler(app: FastAPI) -> None:
    # Starlette types every handler as taking Exception; each of ours takes the class it is registered for
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    if exc.status_code == 400:
        # FastAPI's only 400 is a body it cannot parse (not UTF-8, a broken form); malformed JSON is already a
        # 422 naming `body`, so every unreadable body is the same 422, as the OpenAPI document says.
        return error_response(InvalidInput("body", "could not be read: send JSON in UTF-8 (a form for log-in)"))
    if exc.status_code == 404:
        return JSONResponse({"detail": f"There is nothing at {request.url.path}."}, status_code=404)
    if exc.status_code == 405:
        allowed = ", ".join(allowed_methods(request))
        return JSONResponse(
            {"detail": f"{request.method} is not allowed here; this address takes {allowed}."},
            status_code=405,
            headers={"Allow": allowed},
        )
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of this path takes: the router's own 405 names only the first route's."""
    return [
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in request.app.router.routes
        )
    ]
