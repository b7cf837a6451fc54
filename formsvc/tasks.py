"""The tasks: plain functions run inside an app context, by a Celery worker or inline.

Each takes plain JSON values, finds its work in the database and claims it there, so running it
twice (a retry, a redelivery after a crash, two beats) does the work once. formsvc.worker wraps
them as Celery tasks under the same names; formsvc.queue runs them inline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from flask import current_app

from formsvc.runtime import runtime
from formsvc.services import mail

logger = logging.getLogger(__name__)

#: the id of the task run in progress (the worker sets it; Celery keeps it on a redelivery)
RUN_ID: ContextVar[str | None] = ContextVar("formsvc_task_run_id", default=None)


@dataclass(frozen=True)
class Task:
    """A task's function and how it runs."""

    fn: Callable[..., Any]  #: called with the message's kwargs, inside an app context
    queue: str  #: "mail" or "default" ("convert" is reserved)
    #: exceptions worth a retry (with exponential backoff); any other is logged and dropped
    retry_for: tuple[type[BaseException], ...] = ()
    max_retries: int = 8  #: about 2 + 4 + … + 256 s ≈ 8.5 minutes of trying, then the next run


def _queue() -> Any:
    q = runtime().queue
    assert q is not None
    return q


def _locked(job: str) -> bool:
    """True when another run of scheduled *job* (another beat's copy) has it this period."""
    queue = _queue()
    # held for most of the period and not released: a copy arriving later is skipped too;
    # this run's own id takes it again when the run is redelivered after a crash
    if queue.run_once(job, queue.lock_seconds(job), RUN_ID.get()):
        return False
    logger.info("scheduled job %s: another beat's copy has it (run %s); skipped", job, RUN_ID.get())
    return True


def reminders_run() -> None:
    """Find the reminders due now and queue one mail task each (beat: REMINDERS)."""
    from formsvc.services import reminders, signing

    if _locked("reminders"):
        return
    queue = _queue()

    def deliver(due: reminders.Due) -> None:
        queue.enqueue("formsvc.reminders.send", kind=due.kind, object_id=due.object_id, key=due.key)

    report = reminders.run(current_app.config, signing.today_local(), deliver=deliver)
    from formsvc.extensions import db

    db.session.commit()  # sends the queued mail tasks
    logger.info(
        "reminders: %d to signers and %d about ending consents queued, %d consents expired",
        report.signers,
        report.expiring,
        report.expired,
    )
    for line in report.failed:
        logger.warning("reminders: %s", line)


def reminders_send(kind: str, object_id: int, key: str) -> bool:
    """Send one reminder if it is still due and has not gone out (claimed in the database)."""
    from formsvc.services import reminders, signing

    due = reminders.Due(str(kind), int(object_id), str(key))
    return reminders.send(current_app.config, due, signing.today_local())


def retention_run() -> None:
    """Delete the content of documents whose retention period has ended (beat: RETENTION)."""
    from formsvc.services import retention, signing

    if _locked("retention"):
        return
    rt = runtime()
    report = retention.run(
        rt.registry, current_app.config, signing.today_local(), store=rt.store, dry_run=False
    )
    logger.info("retention: %d documents deleted, %d held", len(report.deleted), len(report.held))


def audit_checkpoint() -> None:
    """Sign a checkpoint of the audit log's head (beat: AUDIT_CHECKPOINT)."""
    from formsvc.services import checkpoints

    anchor = runtime().anchor
    if anchor is None or _locked("audit_checkpoint"):
        return
    cp = checkpoints.checkpoint_now(anchor, "formsvc beat")
    logger.info("audit checkpoint %d: %d events", cp.seq, cp.count)


#: every task by name; the names are what the broker carries (keep them stable)
TASKS: dict[str, Task] = {
    "formsvc.reminders.run": Task(reminders_run, "default"),
    "formsvc.reminders.send": Task(reminders_send, "mail", retry_for=(mail.MailError, OSError)),
    "formsvc.retention.run": Task(retention_run, "default"),
    "formsvc.audit.checkpoint": Task(audit_checkpoint, "default"),
}

#: the scheduled jobs: BEAT_SCHEDULE key → task
SCHEDULED = {
    "reminders": "formsvc.reminders.run",
    "retention": "formsvc.retention.run",
    "audit_checkpoint": "formsvc.audit.checkpoint",
}
