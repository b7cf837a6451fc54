"""Jobs: tasks sent only once the database transaction that asked for them commits.

Two modes (docs/adr/020-job-queue.md):

- ``QUEUE_MODE = "inline"`` (the default): a task runs in this process right after the commit,
  in its own app context and session. The explicit degraded mode for one machine without Redis;
  scheduled jobs then come from cron (`flask reminders`, `flask retention`, `flask audit
  checkpoint`).
- ``QUEUE_MODE = "celery"``: a task is published to Redis (``CELERY_BROKER_URL``) and run by
  ``celery -A formsvc.worker worker``; ``celery -A formsvc.worker beat`` sends the scheduled ones.

Either way the database row is the truth: a task finds its work there and claims it
idempotently, so a task sent twice, retried or redelivered after a crash does it once.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Celery
from celery.schedules import crontab
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from formsvc import logs

logger = logging.getLogger(__name__)

MODES = ("inline", "celery")
#: the queues a task may go to; "convert" is reserved for conversions (not yet tasks)
QUEUES = ("mail", "default", "convert")
#: where a session keeps the tasks waiting for its commit
_PENDING = "formsvc.queue.pending"
#: the task message header that carries the web request's id into the task
REQUEST_ID_HEADER = "formsvc_request_id"
#: the wall clock the beat schedule's crontab times are in (like signing.today_local)
TIMEZONE = "Europe/Stockholm"
#: the queue a worker must consume for /readyz to count it (mail waits on nothing else)
READY_QUEUE = "mail"


def parse_cron(text: Any) -> dict[str, str]:
    """The crontab fields of a five-field cron line ("minute hour day month weekday");
    ValueError if it is not one."""
    fields = text.split() if isinstance(text, str) else []
    if len(fields) != 5:
        raise ValueError(f"not a five-field cron line: {text!r}")
    names = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
    spec = dict(zip(names, fields, strict=True))
    crontab(**spec)  # raises ValueError on a field out of range or unknown
    return spec


def beat_schedule(config: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """BEAT_SCHEDULE's jobs that are on, as crontab fields; RuntimeError on anything else."""
    from formsvc import tasks

    schedule = config.get("BEAT_SCHEDULE") or {}
    if not isinstance(schedule, Mapping):
        raise RuntimeError("BEAT_SCHEDULE must map job names to cron lines")
    out: dict[str, dict[str, str]] = {}
    for job, line in schedule.items():
        if job not in tasks.SCHEDULED:
            raise RuntimeError(f"BEAT_SCHEDULE: unknown job {job!r}")
        if line in (None, "", False):
            continue  # turned off
        try:
            out[job] = parse_cron(line)
        except ValueError as exc:
            raise RuntimeError(f"BEAT_SCHEDULE[{job!r}]: {exc}") from None
    return out


def cron_period(spec: Mapping[str, str], now: datetime | None = None) -> timedelta:
    """The time between the next two runs of crontab *spec* after *now* (Stockholm time)."""
    fixed = now or datetime.now(UTC)
    app = Celery(set_as_current=False)
    app.conf.timezone = TIMEZONE
    cron = crontab(**spec, nowfun=lambda: fixed, app=app)
    first = cron.remaining_estimate(fixed)
    return cron.remaining_estimate(fixed + first) - first


@dataclass
class Queue:
    """Sends tasks after commit; in celery mode also the worker heartbeat and run-once locks."""

    #: "inline" or "celery"
    mode: str
    #: the app the tasks run in (inline mode, and the worker)
    app: Flask = field(repr=False)
    #: the Celery app (celery mode: publishes; the worker runs it); None in inline mode
    celery: Celery | None = field(default=None, repr=False)
    #: prefix of every Redis key this deployment writes (heartbeat, locks)
    key_prefix: str = "formsvc:"
    #: prefix of the queue names ("" → mail, default, convert)
    queue_prefix: str = ""
    #: a worker counts as alive while its heartbeat is younger than this
    heartbeat_ttl: int = 30
    #: the scheduled jobs that are on: job → crontab fields (BEAT_SCHEDULE)
    schedule: dict[str, dict[str, str]] = field(default_factory=dict)
    _redis: Any = field(default=None, init=False, repr=False)

    def enqueue(self, task: str, **kwargs: Any) -> None:
        """Send *task* with *kwargs* (plain JSON values) once the current transaction commits.

        Nothing is sent if it rolls back. A caller that has nothing to commit commits anyway
        (`db.session.commit()` with no changes still ends the transaction and sends)."""
        from formsvc import tasks
        from formsvc.extensions import db

        if task not in tasks.TASKS:
            raise ValueError(f"unknown task {task!r}")
        session = db.session()
        session.info.setdefault(_PENDING, []).append((self, task, kwargs, logs.request_id()))

    def queue_name(self, task: str) -> str:
        """The broker queue *task* goes to."""
        from formsvc import tasks

        return self.queue_prefix + tasks.TASKS[task].queue

    def _dispatch(self, task: str, kwargs: dict[str, Any], rid: str | None) -> None:
        if self.mode == "celery":
            assert self.celery is not None
            try:
                self.celery.send_task(
                    task,
                    kwargs=kwargs,
                    queue=self.queue_name(task),
                    headers={REQUEST_ID_HEADER: rid} if rid else None,
                )
            except Exception:  # noqa: BLE001 - the transaction is committed already
                # the row is the truth: the next scheduled run finds the work again
                logger.exception("could not publish task %s", task)
            return
        run_inline(self.app, task, kwargs, rid)

    # ----------------------------------------------------------------- Redis (celery mode)

    def redis(self) -> Any:
        """A Redis client on the broker (celery mode only), made once (it pools connections)."""
        import redis

        assert self.celery is not None, "no Redis in inline mode"
        if self._redis is None:
            url = str(self.celery.conf.broker_url)
            self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        return self._redis

    def _heartbeats(self, queue: str) -> str:
        return f"{self.key_prefix}heartbeats:{queue}"

    def beat(self, worker: str, queues: Iterable[str] = ("mail", "default")) -> None:
        """Record that *worker* is alive and consumes *queues* (names without the prefix).

        One sorted set per queue: member the worker, score the Redis time its heartbeat ends
        (refreshed well within heartbeat_ttl). Reading it is one ZCOUNT, never a SCAN."""
        client = self.redis()
        seconds, _micro = client.time()
        pipe = client.pipeline()
        for queue in queues:
            key = self._heartbeats(queue)
            pipe.zadd(key, {worker: seconds + self.heartbeat_ttl})
            pipe.zremrangebyscore(key, "-inf", seconds)  # workers gone without a goodbye
            pipe.expire(key, self.heartbeat_ttl)  # the last worker gone: the set goes too
        pipe.execute()

    def forget(self, worker: str, queues: Iterable[str] = QUEUES) -> None:
        """Drop *worker*'s heartbeat (a clean stop)."""
        pipe = self.redis().pipeline()
        for queue in queues:
            pipe.zrem(self._heartbeats(queue), worker)
        pipe.execute()

    def worker_alive(self, queue: str = READY_QUEUE) -> bool:
        """Whether a worker consuming *queue* sent a heartbeat recently (False in inline mode:
        no worker is needed there; /readyz asks only in celery mode). Raises if Redis is down."""
        if self.mode != "celery":
            return False
        client = self.redis()
        seconds, _micro = client.time()
        return bool(client.zcount(self._heartbeats(queue), f"({seconds}", "+inf"))

    def beat_entries(self) -> dict[str, dict[str, Any]]:
        """Celery's beat_schedule: each scheduled job that is on, at its crontab times."""
        from formsvc import tasks

        assert self.celery is not None, "no beat in inline mode"
        return {
            job: {
                "task": tasks.SCHEDULED[job],
                "schedule": crontab(**spec, app=self.celery),
                "options": {"queue": self.queue_name(tasks.SCHEDULED[job])},
            }
            for job, spec in self.schedule.items()
        }

    def lock_seconds(self, job: str) -> int:
        """How long a run of scheduled *job* holds its lock: most of its period."""
        spec = self.schedule.get(job)
        period = cron_period(spec).total_seconds() if spec else 3600.0
        return max(1, int(period * 0.9))

    def run_once(self, job: str, seconds: int, run_id: str | None = None) -> bool:
        """Take the lock of scheduled *job* for *seconds* for run *run_id*; False if another
        run has it.

        A Redis SET NX with an expiry, kept after the run: a second beat's copy of the same
        period (another task id), arriving seconds or minutes later, is skipped. The lock
        belongs to its run: the same run redelivered after its worker died (Celery keeps the
        task id) takes it again and does the work. Inline mode has no beat: True."""
        if self.mode != "celery":
            return True
        token = run_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        key = f"{self.key_prefix}lock:{job}"
        client = self.redis()
        if client.set(key, token, nx=True, ex=seconds):
            return True
        held = client.get(key)
        return run_id is not None and held is not None and held.decode() == run_id


def run_inline(app: Flask, task: str, kwargs: Mapping[str, Any], rid: str | None) -> None:
    """Run *task* now in its own app context (and so its own session); failures are logged."""
    from formsvc import tasks

    with app.app_context(), logs.bound_request_id(rid):
        try:
            tasks.TASKS[task].fn(**kwargs)
        except Exception:  # noqa: BLE001 - like a worker: log it; the row is still the truth
            logger.exception("task %s failed (inline)", task)


def celery_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The Celery settings for a formsvc app's *config*."""
    prefix = str(config.get("QUEUE_NAME_PREFIX") or "")
    return {
        "broker_url": config["CELERY_BROKER_URL"],
        "broker_connection_retry_on_startup": True,
        # a task's message is acknowledged when it has finished, not when it starts, and
        # given back if the process running it dies: a crash means a retry, never a loss
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # a message not acknowledged within this goes to another worker (Redis has no
        # connection-bound acks): longer than any task's hard time limit
        "broker_transport_options": {
            "visibility_timeout": int(config["CELERY_VISIBILITY_TIMEOUT"]),
            "global_keyprefix": str(config.get("QUEUE_KEY_PREFIX") or "formsvc:"),
        },
        "task_soft_time_limit": int(config["CELERY_TASK_SOFT_TIME_LIMIT"]),
        "task_time_limit": int(config["CELERY_TASK_TIME_LIMIT"]),
        "task_default_queue": prefix + "default",
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_backend": None,
        "task_ignore_result": True,
        "worker_send_task_events": False,
        # crontab times in BEAT_SCHEDULE are Stockholm wall-clock times
        "timezone": TIMEZONE,
        "enable_utc": True,
        # beat's record of when each job last ran: kept, a beat that was down at a job's time
        # runs it when it starts again
        "beat_schedule_filename": str(config["BEAT_SCHEDULE_FILE"]),
    }


def build(app: Flask) -> Queue:
    """The app's Queue from its config; refuses to start on a mode it cannot run."""
    config = app.config
    mode = str(config.get("QUEUE_MODE") or "inline")
    if mode not in MODES:
        raise RuntimeError(f"QUEUE_MODE must be one of {', '.join(MODES)}, not {mode!r}")
    common = {
        "app": app,
        "key_prefix": str(config.get("QUEUE_KEY_PREFIX") or "formsvc:"),
        "queue_prefix": str(config.get("QUEUE_NAME_PREFIX") or ""),
        "heartbeat_ttl": int(config["QUEUE_HEARTBEAT_TTL"]),
        "schedule": beat_schedule(config),
    }
    if mode == "inline":
        return Queue(mode=mode, **common)
    broker = str(config.get("CELERY_BROKER_URL") or "")
    if not broker.startswith(("redis://", "rediss://", "unix://")):
        raise RuntimeError("QUEUE_MODE = 'celery' needs CELERY_BROKER_URL = 'redis://…'")
    celery = Celery("formsvc", set_as_current=False)
    celery.conf.update(celery_config(config))
    return Queue(mode=mode, celery=celery, **common)


@event.listens_for(Session, "after_commit")
def _send_committed(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    for queue, task, kwargs, rid in pending or ():
        queue._dispatch(task, kwargs, rid)


@event.listens_for(Session, "after_transaction_end")
def _forget_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    # after a commit the list is gone already; what is left was rolled back (or closed)
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
