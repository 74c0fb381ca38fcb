"""Prometheus metrics: requests and latency per route and status, dependency failures.

With several hypercorn workers each is a process of its own; prometheus_client's
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, which ``config/hypercorn.py``
prepares) has every worker write its values to files there, and a scrape of
any worker sums them all.
"""

from __future__ import annotations

from flask import Response, current_app
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

LABELS = ("method", "route", "status")
# Unmatched paths share one label: a scanner must not create a series per URL.
UNMATCHED = "<unmatched>"

REQUESTS = Counter("http_requests_total", "HTTP requests answered.", LABELS)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from the request's arrival to its answer.",
    LABELS,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DEPENDENCY_FAILURES = Counter(
    "dependency_failures_total", "Requests that failed because a dependency was down.", ("dependency",)
)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request and its latency."""
    labels = (method, route, str(status))
    REQUESTS.labels(*labels).inc()
    LATENCY.labels(*labels).observe(seconds)


def count_dependency_failure(dependency: str) -> None:
    DEPENDENCY_FAILURES.labels(dependency).inc()


def metrics_view() -> Response:
    """GET /metrics: the Prometheus text format, summed over every worker."""
    if current_app.extensions["service.runtime"].settings.prometheus_multiproc_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    # The classic text format every Prometheus version reads; our names need
    # none of what the 1.0.0 format adds.
    return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})
