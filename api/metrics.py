"""Request metrics: how long each request took, by method, route template and status.

The route is the template (`/api/v1/clients/{client_id}`), never the path: a path holds ids and would make a
series per client. Under `galvani api --workers N` each worker is a process of its own; with
PROMETHEUS_MULTIPROC_DIR set (galvani/metrics_dir.py sets it), prometheus_client writes every worker's values to
files in that folder, and a scrape, whichever worker answers it, adds them all up.
"""

import os
import time

from fastapi.routing import iter_route_contexts
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "(unmatched)"  # no route: one series for every path scanned or mistyped, not one each
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # any other is "other"

# Only the requests are kept here; in one process the scrape reads them from this registry, in several from the
# workers' files (a metric counted in a registry it is not scraped from would be counted twice).
REQUESTS = CollectorRegistry(auto_describe=True)
REQUEST_SECONDS = Histogram(
    "galvani_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method, route template and status.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REQUESTS,
)


def request_metrics() -> CollectorRegistry:
    """The request metrics of every worker (multiprocess mode), or of this process alone."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return REQUESTS
    every_worker = CollectorRegistry()
    MultiProcessCollector(every_worker, path=folder)  # type: ignore[no-untyped-call]  # prometheus_client leaves it untyped
    return every_worker


def route_templates(app: object) -> dict[int, str]:
    """Each route's full template by the route's identity. FastAPI keeps an included router's routes as they were
    declared (`/clients/{client_id}`); their context knows the prefix (`/api/v1/clients/{client_id}`)."""
    contexts = iter_route_contexts(getattr(app, "routes", []))
    return {id(context.original_route): context.path for context in contexts if context.path}


class RequestMetrics:
    """Pure ASGI middleware timing each HTTP request to the end of its answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._templates: dict[int, str] | None = None  # made at the first request: every route is there by then

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began, root_path, status = time.perf_counter(), scope.get("root_path", ""), 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            REQUEST_SECONDS.labels(method, self._route(scope, root_path), str(status)).observe(
                time.perf_counter() - began
            )

    def _route(self, scope: Scope, root_path: str) -> str:
        """The template of the route that took the request, known once it was routed."""
        route = scope.get("route")
        if route is not None:
            if self._templates is None:
                self._templates = route_templates(scope.get("app"))
            return self._templates.get(id(route)) or str(getattr(route, "path", UNMATCHED))
        mounted = scope.get("root_path", "")[len(root_path) :]  # a mount (the static files) sets its root path
        return f"{mounted}/{{path}}" if mounted else UNMATCHED
