"""The Celery app: ``celery -A formsvc.worker worker -Q mail,default`` and ``… beat``.

The formsvc app is built from the environment like the web (instance/config.py, FORMSVC_*),
with ``QUEUE_MODE = "celery"``; every task runs inside its app context.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from celery import Celery, bootsteps, signals
from celery import Task as CeleryTask
from flask import Flask
from kombu import Queue as KombuQueue

from formsvc import create_app, logs, tasks
from formsvc.extensions import db
from formsvc.queue import REQUEST_ID_HEADER, Queue
from formsvc.runtime import runtime

logger = logging.getLogger(__name__)


def make_celery(app: Flask) -> Celery:
    """The Celery app of *app*: its tasks, their queues and retries, the beat schedule and the
    worker heartbeat."""
    queue = runtime(app).queue
    if queue is None or queue.celery is None:
        raise RuntimeError("a worker needs QUEUE_MODE = 'celery' and CELERY_BROKER_URL")
    celery = queue.celery

    class AppTask(CeleryTask):  # type: ignore[misc]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            rid = getattr(self.request, REQUEST_ID_HEADER, None) or (
                self.request.headers or {}
            ).get(REQUEST_ID_HEADER)
            # the web request's id (a malformed one is replaced by a fresh id)
            token = tasks.RUN_ID.set(self.request.id)
            try:
                with app.app_context(), logs.bound_request_id(str(rid) if rid else None):
                    return super().__call__(*args, **kwargs)
            finally:
                tasks.RUN_ID.reset(token)

    for name, spec in tasks.TASKS.items():
        _register(celery, AppTask, queue, name, spec)
    celery.conf.task_routes = {name: {"queue": queue.queue_name(name)} for name in tasks.TASKS}
    # what a worker started without -Q consumes: mail and default ("convert" gets its own workers)
    celery.conf.task_queues = [
        KombuQueue(queue.queue_prefix + name) for name in ("mail", "default")
    ]
    celery.conf.beat_schedule = queue.beat_entries()
    celery.steps["worker"].add(_heartbeat_step(queue))

    @signals.worker_process_init.connect(weak=False)
    def _fresh_connections(**_: Any) -> None:
        # a forked pool process must not share the parent's database sockets
        with app.app_context():
            db.engine.dispose(close=False)

    return celery


def _register(
    celery: Celery, base: type[CeleryTask], queue: Queue, name: str, spec: tasks.Task
) -> None:
    def run(**kwargs: Any) -> Any:
        return spec.fn(**kwargs)

    celery.task(
        name=name,
        base=base,
        queue=queue.queue_name(name),
        autoretry_for=spec.retry_for,
        retry_backoff=2,
        retry_backoff_max=300,
        retry_jitter=True,
        max_retries=spec.max_retries,
    )(run)


def _heartbeat_step(queue: Queue) -> type[bootsteps.StartStopStep]:
    class Heartbeat(bootsteps.StartStopStep):
        """Refresh this worker's heartbeat in each queue it consumes a few times per TTL;
        drop it on stop."""

        requires = {"celery.worker.components:Timer"}

        def __init__(self, worker: Any, **kwargs: Any) -> None:
            super().__init__(worker, **kwargs)
            self.tref: Any = None
            self.queues: list[str] = []

        def _beat(self, worker: Any) -> None:
            try:
                queue.beat(worker.hostname, self.queues)
            except Exception as exc:  # noqa: BLE001 - Redis away: readiness says so
                logger.warning("worker heartbeat failed: %r", exc)

        def start(self, worker: Any) -> None:
            # the queues this worker consumes (-Q, else task_queues), without the prefix
            consumed = worker.app.amqp.queues.consume_from or worker.app.amqp.queues
            self.queues = [
                name.removeprefix(queue.queue_prefix)
                for name in consumed
                if name.startswith(queue.queue_prefix)
            ]
            self._beat(worker)
            every = max(1.0, queue.heartbeat_ttl / 3)
            self.tref = worker.timer.call_repeatedly(every, self._beat, (worker,))

        def stop(self, worker: Any) -> None:
            if self.tref is not None:
                self.tref.cancel()
            with contextlib.suppress(Exception):  # it expires anyway
                queue.forget(worker.hostname)

    return Heartbeat


#: the Flask app the worker and beat run (from the environment)
flask_app = create_app()
#: what `celery -A formsvc.worker` finds
app = celery = make_celery(flask_app)
