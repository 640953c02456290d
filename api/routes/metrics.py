"""`/metrics` in Prometheus' text format, for whoever may scrape it: with GALVANI_METRICS_TOKEN set, whoever sends
that token as a bearer token; without one, this machine only."""

import hmac
import ipaddress
import logging
from collections.abc import Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from api.errors import Forbidden, NotAuthenticated
from api.metrics import request_metrics
from api.services.operations_metrics import operations_metrics
from db.settings import Settings

logger = logging.getLogger(__name__)
router = APIRouter(tags=["metrics"], include_in_schema=False)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Request latency (every worker's), then what the database says now: gateways, outbox, sessions, alarms."""
    _may_scrape(request)
    scraped = generate_latest(request_metrics()) + generate_latest(_database_metrics(request))
    return Response(scraped, media_type=CONTENT_TYPE_LATEST)


def _may_scrape(request: Request) -> None:
    settings: Settings = request.app.state.settings
    if settings.metrics_token is not None:
        expected = f"Bearer {settings.metrics_token.get_secret_value()}".encode()
        sent = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(sent, expected):
            raise NotAuthenticated(
                "Scraping /metrics needs the metrics token (GALVANI_METRICS_TOKEN) as a bearer token."
            )
        return
    if not _loopback(request.client.host if request.client else None):
        raise Forbidden(
            "/metrics answers only to this machine: set GALVANI_METRICS_TOKEN to let a scraper elsewhere in."
        )


def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:  # not an address (a Unix socket, a test client's name)
        return False


class _Read(Collector):
    """What was read from the database for this scrape."""

    def __init__(self, request: Request) -> None:
        self._request = request

    def collect(self) -> Iterator[Metric]:
        # a family, not a Gauge: in multiprocess mode a Gauge made here would be written to the workers' files
        try:
            with self._request.app.state.session_factory() as session:
                read = list(operations_metrics(session))
        except SQLAlchemyError as error:
            logger.warning("/metrics could not read the database: %s", type(error).__name__)
            read = []
        yield GaugeMetricFamily(
            "galvani_database_up", "1 when the database answered this scrape.", value=1 if read else 0
        )
        yield from read


def _database_metrics(request: Request) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Read(request))
    return registry
