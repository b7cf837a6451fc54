"""Readiness: can this instance serve? The database, the file store, Redis, a live worker.

Each check runs in its own thread under one overall deadline, so a hung dependency makes the
answer "failed", never a hung probe. The result holds only names and ok/failed: why a check
failed goes to the log (for the operator), never into the answer (for whoever asks).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy import text
from sqlalchemy.engine import Engine

logger = logging.getLogger(__name__)

OK = "ok"
FAILED = "failed"
#: failed, but the instance still serves correctly without it (reported, not unready)
DEGRADED = "degraded"
#: URL schemes of a Redis server we can PING (Flask-Limiter's and Celery's spellings)
_REDIS_SCHEMES = {"redis", "rediss", "redis+unix", "redis+socket", "unix"}
#: the settings that may name a Redis server, and the check each one gets
REDIS_SETTINGS = {"RATELIMIT_STORAGE_URI": "redis_ratelimit", "CELERY_BROKER_URL": "redis_broker"}

Check = Callable[[], None]


class WorkerQueue(Protocol):
    """What readiness needs of the task queue (formsvc.queue)."""

    def worker_alive(self) -> bool: ...


@dataclass(frozen=True)
class Readiness:
    """Each check's name and "ok" or "failed"."""

    checks: dict[str, str]

    @property
    def ok(self) -> bool:
        """Whether no check failed (a degraded one still lets the instance serve)."""
        return all(v != FAILED for v in self.checks.values())


def database_check(engine: Engine) -> Check:
    """SELECT 1 on a connection from *engine*'s pool."""

    def check() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1")).scalar_one()

    return check


def storage_check(store: Any) -> Check:
    """The store's blob backend's own check (formsvc.services.blobs)."""
    return store.backend.check  # type: ignore[no-any-return]


def redis_url(value: object) -> str | None:
    """*value* as a URL redis-py can open, if it names a Redis server; else None."""
    if not isinstance(value, str) or "://" not in value:
        return None
    scheme = urlsplit(value).scheme.lower()
    if scheme not in _REDIS_SCHEMES:
        return None
    if scheme in ("redis+unix", "redis+socket"):
        return "unix://" + value.split("://", 1)[1]
    return value


def redis_check(url: str, timeout: float) -> Check:
    """PING the Redis server at *url*."""

    def check() -> None:
        import redis

        client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=None
        )
        try:
            if not client.ping():
                raise RuntimeError("redis did not answer PING")
        finally:
            client.close()

    return check


def worker_check(queue_: WorkerQueue | None) -> Check:
    """A worker has beaten its heartbeat recently (QUEUE_MODE "celery")."""

    def check() -> None:
        alive = getattr(queue_, "worker_alive", None)
        if alive is None:
            raise RuntimeError("QUEUE_MODE is celery but the app has no task queue")
        if not alive():
            raise RuntimeError("no worker heartbeat")

    return check


def checks_for(
    config: Mapping[str, Any], engine: Engine, store: Any, queue_: WorkerQueue | None
) -> dict[str, Check]:
    """The checks this instance's configuration calls for, by name."""
    timeout = float(config.get("READYZ_TIMEOUT", 2.0))
    out = {"database": database_check(engine), "storage": storage_check(store)}
    for setting, name in REDIS_SETTINGS.items():
        url = redis_url(config.get(setting))
        if url is not None:
            out[name] = redis_check(url, timeout)
    if config.get("QUEUE_MODE") == "celery":
        out["worker"] = worker_check(queue_)
    return out


def optional_checks(config: Mapping[str, Any]) -> frozenset[str]:
    """Checks whose failure only degrades the instance: the rate-limit Redis while Flask-Limiter
    falls back to counting in memory (each instance limits on its own, nothing fails). Failing
    readiness for it would take every instance out of the load balancer at once."""
    if config.get("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True):
        return frozenset({"redis_ratelimit"})
    return frozenset()


def run(
    checks: Mapping[str, Check],
    timeout: float,
    scope: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
    optional: frozenset[str] = frozenset(),
) -> Readiness:
    """Run *checks* at once in threads; one that fails or is not done within *timeout* failed.

    Each runs inside its own *scope()* (the web app passes ``app.app_context``: a check that
    uses the database session gets a session of its own, not the request's)."""
    done: queue.Queue[tuple[str, bool]] = queue.Queue()

    def one(name: str, check: Check) -> None:
        try:
            with scope():
                check()
        except Exception as exc:  # noqa: BLE001 - any failure makes the check fail
            # the class and the message, for the operator; never the traceback's locals
            logger.warning("readiness check %s failed: %s: %s", name, type(exc).__name__, exc)
            done.put((name, False))
        else:
            done.put((name, True))

    for name, check in checks.items():
        # daemon: a check stuck in a dead dependency must not keep the process from exiting
        # each in a copy of this context: its log lines carry the request's id
        ctx = contextvars.copy_context()
        threading.Thread(
            target=ctx.run, args=(one, name, check), name=f"readyz-{name}", daemon=True
        ).start()
    results = {name: DEGRADED if name in optional else FAILED for name in checks}
    pending = set(checks)
    deadline = time.monotonic() + timeout
    while pending:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            name, passed = done.get(timeout=remaining)
        except queue.Empty:
            break
        pending.discard(name)
        results[name] = OK if passed else DEGRADED if name in optional else FAILED
    if pending:
        logger.warning(
            "readiness checks not done after %.1f s: %s", timeout, ", ".join(sorted(pending))
        )
    return Readiness(results)
