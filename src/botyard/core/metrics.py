"""Prometheus metrics. Under gunicorn every worker process writes its samples to
PROMETHEUS_MULTIPROC_DIR (set by `botyard serve`) and /metrics adds them up."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

REQUESTS = Counter(
    "botyard_http_requests_total",
    "HTTP requests by route, method and status",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "botyard_http_request_duration_seconds",
    "HTTP request latency by route",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
MESSAGES = Counter("botyard_messages_total", "Incoming channel messages by outcome", ["outcome"])


_MESSAGE_OUTCOMES: dict[str, Any] = {}  # outcome -> its child of MESSAGES


def record_message(outcome: str) -> None:
    """`accepted`, or the refusal's error code (message_limit_reached, budget_reached, …)."""
    child = _MESSAGE_OUTCOMES.get(outcome)
    if child is None:  # labels() takes a lock and checks its arguments each time
        child = _MESSAGE_OUTCOMES[outcome] = MESSAGES.labels(outcome=outcome)
    child.inc()


class MetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        # The route template, not the path: ids would make every request a new series.
        match = request.resolver_match
        route = match.route if match is not None else "unmatched"
        record_request(route, str(request.method), response.status_code,
                       time.perf_counter() - started)  # fmt: skip
        return response


_REQUEST_SERIES: dict[tuple[str, str, int], tuple[Any, Any]] = {}  # -> (latency, count)


def record_request(route: str, method: str, status: int, seconds: float) -> None:
    """One answered request: its latency by route, and its count by route, method and
    status. The labelled children are kept: labels() takes a lock and checks its
    arguments each time, and there are a few dozen routes."""
    series = _REQUEST_SERIES.get((route, method, status))
    if series is None:
        series = _REQUEST_SERIES[(route, method, status)] = (
            LATENCY.labels(route=route),
            REQUESTS.labels(route=route, method=method, status=status),
        )
    series[0].observe(seconds)
    series[1].inc()


class TaskCollector(Collector):
    """Queued and failed background tasks, read from the task table at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django_tasks_db.models import DBTaskResult

        family = GaugeMetricFamily("botyard_tasks", "Background tasks by status", labels=["status"])
        try:
            for status in ("READY", "RUNNING", "FAILED", "SUCCESSFUL"):
                family.add_metric(
                    [status.lower()], DBTaskResult.objects.filter(status=status).count()
                )
        except DatabaseError:
            return
        yield family


def metrics_view(request: HttpRequest) -> HttpResponse:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    tasks = CollectorRegistry()
    tasks.register(TaskCollector())
    body = generate_latest(registry) + generate_latest(tasks)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
