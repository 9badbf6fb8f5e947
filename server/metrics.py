"""Prometheus metrics: what every request did, summed over gunicorn's workers, served at GET /metrics.

Under gunicorn, every worker writes its samples to files in $PROMETHEUS_MULTIPROC_DIR (prometheus-client's
multiprocess mode; server/gunicorn.conf.py makes one directory per deployment) and a scrape adds them
up. Run in one process (the tests' in-process app), the metrics live in that process.
"""

from __future__ import annotations

import os

import falcon
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from digits.pipeline import Timing

# Readings take 1-50 ms on a canvas and up to seconds for a long number: resolve both.
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
STAGE_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 5)

REQUESTS = Counter("digits_requests_total", "HTTP requests answered", ["route", "method", "status"])
LATENCY = Histogram(
    "digits_request_duration_seconds", "Time from request to response, per route", ["route"], buckets=LATENCY_BUCKETS
)
ANSWERS = Counter("digits_answers_total", "Digits read, by answer (each digit of a number)", ["route", "digit"])
ERRORS = Counter("digits_errors_total", "Error answers by code (no_digit included)", ["route", "code"])
STAGES = Histogram(
    "digits_stage_duration_seconds",
    "Time one reading spent decoding, preprocessing and in the models",
    ["route", "stage"],
    buckets=STAGE_BUCKETS,
)
MODEL = Gauge(
    "digits_model_info", "The models being served (value 1)", ["classifier", "line_model"], multiprocess_mode="max"
)


def observe(route: str, method: str, status: int, seconds: float, error_code: str | None) -> None:
    """Count one answered request."""
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route).observe(seconds)
    if error_code:
        ERRORS.labels(route, error_code).inc()


def observe_reading(route: str, digits: list[int], timing: Timing) -> None:
    """Count the digits one reading answered and where its time went."""
    for digit in digits:
        ANSWERS.labels(route, str(digit)).inc()
    for stage in ("decode", "preprocess", "model"):
        STAGES.labels(route, stage).observe(getattr(timing, stage))


def serving(classifier: str, line_model: str) -> None:
    """Record the versions this process serves."""
    MODEL.labels(classifier, line_model).set(1)


class Metrics:
    """GET /metrics: the Prometheus text format, summed over workers in multiprocess mode."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        registry = REGISTRY
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        resp.data = generate_latest(registry)
        resp.content_type = CONTENT_TYPE_LATEST
