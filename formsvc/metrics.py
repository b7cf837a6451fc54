"""Prometheus metrics: defined here once, imported where things happen, served at /metrics.

Labels are bounded by construction: the Flask endpoint name (never the path, which carries ids
and signing tokens), a status class, a task name, an outcome.

Several processes (gunicorn workers): set PROMETHEUS_MULTIPROC_DIR in the environment of every
process, to an empty directory, *before* they start: each process then writes its values there
and /metrics adds them up (prometheus-client's multiprocess mode). gunicorn's ``child_exit`` hook
(deploy/gunicorn.conf.py) drops a dead worker's live gauges.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

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

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: one request's time in the app (to the response's start), by Flask endpoint and status class
REQUEST_LATENCY = Histogram(
    "formsvc_http_request_duration_seconds",
    "Time to answer an HTTP request, by Flask endpoint and status class",
    ["endpoint", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
#: PAdES seals applied to documents; outcome "ok" or "failed"
SEALS = Counter("formsvc_seals_total", "Documents sealed", ["outcome"])
#: DOCX → PDF conversions; outcome "ok" or "failed"
CONVERSIONS = Counter("formsvc_conversions_total", "DOCX to PDF conversions", ["outcome"])
#: LibreOffice (unoserver) processes restarted after a hang, a crash or an exit
CONVERTER_RESTARTS = Counter(
    "formsvc_converter_restarts_total", "LibreOffice converter processes restarted"
)
#: background tasks' run time, by task name and outcome ("ok", "failed", "retry")
TASK_DURATION = Histogram(
    "formsvc_task_duration_seconds",
    "Time a background task ran",
    ["task", "outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
#: background task runs that failed (each failed attempt, retried or not), by task name
TASK_FAILURES = Counter("formsvc_task_failures_total", "Background task runs that failed", ["task"])


@dataclass(frozen=True)
class TaskMetrics:
    """The task queue's two metrics together (``TASKS.duration``, ``TASKS.failures``)."""

    duration: Histogram  #: labels task, outcome
    failures: Counter  #: label task


TASKS = TaskMetrics(duration=TASK_DURATION, failures=TASK_FAILURES)
#: messages waiting per queue, as last measured (the worker side sets it)
QUEUE_DEPTH = Gauge(
    "formsvc_queue_depth",
    "Messages waiting in a task queue",
    ["queue"],
    multiprocess_mode="mostrecent",
)

#: allowed values of REQUEST_LATENCY's method label (anything else is "other")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    """Record one answered request (an unmatched URL is endpoint "none")."""
    REQUEST_LATENCY.labels(
        endpoint=endpoint or "none",
        method=method if method in _METHODS else "other",
        status=f"{status // 100}xx" if 100 <= status < 600 else "other",
    ).observe(seconds)


def multiprocess_dir() -> str | None:
    """The multiprocess directory if this process runs in multiprocess mode."""
    return os.environ.get(MULTIPROC_ENV) or None


def exposition() -> tuple[bytes, str]:
    """The current values in Prometheus' text format, and its content type."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
