"""gunicorn settings for formsvc (README "Running on several machines").

    gunicorn -c deploy/gunicorn.conf.py formsvc.wsgi:app

Every value can be set from the environment; a value that is not a whole number in range stops
gunicorn at start with the variable's name. gthread workers: a slow client or a long conversion
holds one thread, not a process. preload_app stays off: each worker builds its own app after the
fork, so no thread, pool or child process of a parent is ever inherited half-alive.
"""

from __future__ import annotations

import os
from typing import Any


def _int(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name, "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {raw[:40]!r}") from None
    if not low <= value <= high:
        raise SystemExit(f"{name} must be between {low} and {high}, not {value}")
    return value


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")
worker_class = "gthread"
workers = _int("GUNICORN_WORKERS", 2, 1, 64)
threads = _int("GUNICORN_THREADS", 8, 1, 256)
# recycle a worker now and then (a leak cannot grow for ever); the jitter keeps workers from
# restarting all at once
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000, 0, 10_000_000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 200, 0, 1_000_000)
# above CONVERTER_TIMEOUT (60 s by default), so a slow conversion ends with its own message
# rather than the worker being killed under every thread it serves
timeout = _int("GUNICORN_TIMEOUT", 90, 10, 3600)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30, 1, 3600)
# below the load balancer's idle timeout, so it never sends on a connection gunicorn just closed
keepalive = _int("GUNICORN_KEEPALIVE", 5, 1, 300)
# which peers may set X-Forwarded-Proto (the load balancers); the client address behind them is
# the app's PROXY_FIX_X_FOR hop count, not this
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# the heartbeat file on tmpfs: a worker on a slow or full disk is not taken for hung
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR", "/dev/shm")  # noqa: S108 - gunicorn's own file
preload_app = False
# no request line, header or header count beyond what a browser sends: refused (414, 431)
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
# no gunicorn access log: its request line and referer hold the path, and a signing link holds its
# token there; formsvc logs one line per request itself, by endpoint and request id (formsvc.logs)
accesslog = None
errorlog = "-"


def pre_fork(server: Any, worker: Any) -> None:
    """In the master: the lowest converter slot no live worker holds (a recycled worker's slot
    is free again once it has been reaped)."""
    taken = {getattr(w, "formsvc_slot", None) for w in server.WORKERS.values()}
    worker.formsvc_slot = next(n for n in range(len(taken) + 1) if n not in taken)


def post_fork(server: Any, worker: Any) -> None:
    """In the worker, before it builds the app: its own LibreOffice ports and profiles, so two
    workers never fight over one converter (formsvc/__init__.py _converter_slot)."""
    os.environ["FORMSVC_CONVERTER_SLOT"] = str(worker.formsvc_slot)


def on_starting(server: Any) -> None:
    """In the master, before any worker: an empty PROMETHEUS_MULTIPROC_DIR, so /metrics does not
    add up the files of workers from an earlier run (prometheus-client's multiprocess mode)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        for name in os.listdir(folder):
            if name.endswith(".db"):
                os.unlink(os.path.join(folder, name))


def child_exit(server: Any, worker: Any) -> None:
    """In the master: a dead worker's live gauges leave /metrics (formsvc.metrics; only when
    PROMETHEUS_MULTIPROC_DIR is set in the environment of the master and so of every worker)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
