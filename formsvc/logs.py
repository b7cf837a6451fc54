"""Logging: one handler for the process, text or JSON lines, a request id in every line.

The request id comes from a well-formed incoming ``X-Request-ID`` (a load balancer's), else a
new one; it is sent back in the response header and is readable anywhere in the request as
:func:`request_id` (a context variable, so a task queued from the request can carry it and set it
again with :func:`bound_request_id` while the task runs).

One access line per request names the *endpoint*, never the path: signing links carry their
token in the path, and query strings may carry anything.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

from flask import Flask, Response, g, request

from formsvc import metrics

HEADER = "X-Request-ID"
#: what an incoming id may look like: UUIDs, hex, most proxies' ids; anything else is replaced
_WELL_FORMED = re.compile(r"[A-Za-z0-9._-]{1,128}", re.ASCII)
#: request endpoints probed every few seconds: their access lines are DEBUG, not INFO
QUIET_ENDPOINTS = frozenset({"ops.healthz", "ops.readyz", "ops.metrics"})
FORMATS = ("text", "json")
#: fields an access line adds to the JSON object
_ACCESS_FIELDS = ("method", "endpoint", "status", "duration_ms")

_request_id: ContextVar[str | None] = ContextVar("formsvc_request_id", default=None)
access_log = logging.getLogger("formsvc.access")


def request_id() -> str | None:
    """The id of the request (or task) being handled in this context, None outside one."""
    return _request_id.get()


def new_request_id() -> str:
    """A fresh request id (32 hex digits)."""
    return uuid.uuid4().hex


def well_formed(value: str | None) -> bool:
    """Whether *value* may be used as a request id as it is (ASCII letters, digits, ``._-``)."""
    return value is not None and _WELL_FORMED.fullmatch(value) is not None


@contextmanager
def bound_request_id(value: str | None) -> Iterator[str]:
    """Run the block under *value* (a fresh id if it is missing or malformed), e.g. in a task."""
    rid = value if well_formed(value) else new_request_id()
    token = _request_id.set(rid)
    try:
        yield rid
    finally:
        _request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts ``request_id`` on every record ("-" outside a request or task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ASCII only, so no value can break the line or the object."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or _request_id.get(),
        }
        for name in _ACCESS_FIELDS:
            if hasattr(record, name):
                out[name] = getattr(record, name)
        if record.exc_info:
            out["exception"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(out, ensure_ascii=True, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


#: control characters (C0, DEL, C1 and the Unicode line/paragraph separators) in a text log line
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escaped(text: str) -> str:
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1] if m.group() != "\t" else " ", text)


class TextFormatter(logging.Formatter):
    """TEXT_FORMAT with every control character of the message escaped (``\\n``), so a value
    a client chose (a path, a header) can never start a line that looks like one of ours; a
    traceback follows on lines of its own, each indented."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return _escaped(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return "\n".join(
            "    " + _escaped(line) for line in super().formatException(ei).splitlines()
        )

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return "\n".join("    " + _escaped(line) for line in stack_info.splitlines())


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (a test runner swaps it per test)."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def configure(fmt: str = "text", level: str | int = "INFO") -> logging.Handler:
    """Install formsvc's handler on the root logger (replacing one installed before) and set
    the level of formsvc's own loggers; for the web app and for the worker alike."""
    if fmt not in FORMATS:
        raise RuntimeError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "formsvc", False)]:
        root.removeHandler(old)
    handler = _StderrHandler()
    handler.formsvc = True  # type: ignore[attr-defined]
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    # our loggers, not the root's level: libraries keep theirs (WARNING unless configured)
    logging.getLogger("formsvc").setLevel(level)
    # the development server's access lines hold the path, and signing links hold a token there
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return handler


def init_app(app: Flask) -> None:
    """Configure logging from LOG_FORMAT / LOG_LEVEL and give every request an id."""
    configure(str(app.config["LOG_FORMAT"]), str(app.config["LOG_LEVEL"]).upper())

    @app.before_request
    def _start() -> None:
        _begin()

    @app.after_request
    def _finish(resp: Response) -> Response:
        rid = _request_id.get() or _begin()  # a hook before ours answered: still an id
        resp.headers[HEADER] = rid
        started = g.get("formsvc_started")
        duration = time.perf_counter() - started if started is not None else 0.0
        method = request.method[:16]
        metrics.observe_request(request.endpoint, method, resp.status_code, duration)
        endpoint = request.endpoint or "-"
        access_log.log(
            logging.DEBUG if endpoint in QUIET_ENDPOINTS else logging.INFO,
            "%s %s %d %.1f ms",
            method,
            endpoint,
            resp.status_code,
            duration * 1000,
            extra={
                "method": method,
                "endpoint": endpoint,
                "status": resp.status_code,
                "duration_ms": round(duration * 1000, 1),
            },
        )
        return resp

    @app.teardown_request
    def _end(_exc: BaseException | None) -> None:
        _request_id.set(None)


def _begin() -> str:
    incoming = request.headers.get(HEADER)
    rid = incoming if well_formed(incoming) else new_request_id()
    _request_id.set(rid)
    g.formsvc_started = time.perf_counter()
    return rid
