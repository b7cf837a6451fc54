"""Jobs on a real Celery worker process and a private Redis: a task is published only when its
transaction commits, the worker mails through real SMTP, a worker killed with -9 in the middle
of sending leaves the mail to be sent once by the redelivered task, and two copies of the
scheduled run (two beats) or of one mail task send each reminder once, while a redelivered copy
of the run that took the run-once lock runs again: a scheduled run killed midway is redone.
SQLite and PostgreSQL (FORMSVC_TEST_DB)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from flask import Flask
from sqlalchemy import func, select, text

from formsvc.extensions import db
from formsvc.models import AuditEvent, Document, SentReminder
from formsvc.queue import Queue
from formsvc.runtime import runtime
from formsvc.services import documents, reminders, signing
from tests.conftest import World
from tests.jobs import celery_config, redis_url, running_worker, wait_until  # noqa: F401
from tests.smtp import HOST, SmtpServer, _Collector, _LoopbackController

EXPIRING = "Medgivande upphör snart"
CASEWORKER = "caseworker@example.se"
RUN = "formsvc.reminders.run"
SEND = "formsvc.reminders.send"


@pytest.fixture
def config(config: dict[str, Any], redis_url: str, smtp_server: SmtpServer) -> dict[str, Any]:  # noqa: F811
    return celery_config({**config, **smtp_server.settings}, redis_url)


def ending_consent(app: Flask, world: World) -> tuple[Document, str]:
    """An active consent ending in 3 days (its caseworker is due a notice) and its end date."""
    rt = runtime(app)
    dtype = rt.registry["consent"]
    end = signing.today_local() + timedelta(days=3)
    data = dict(
        dtype.sample(),
        period_from=(end - timedelta(days=300)).isoformat(),
        period_to=end.isoformat(),
    )
    doc = documents.create(
        dtype,
        data,
        actor=world.users["caseworker"],
        participant=world.participant,
        store=rt.store,
        status="active",
    )
    return doc, end.isoformat()


def queue() -> Queue:
    q = runtime().queue
    assert q is not None and q.mode == "celery"
    return q


def waiting(q: Queue, name: str) -> int:
    """Messages waiting in broker queue *name* ("mail", "default")."""
    return int(q.redis().llen(f"{q.key_prefix}{q.queue_prefix}{name}"))


def claims(doc: Document) -> int:
    db.session.rollback()  # a fresh snapshot
    return db.session.scalar(
        select(func.count()).select_from(SentReminder).where(SentReminder.object_id == doc.id)
    )


def notices(doc: Document) -> int:
    db.session.rollback()
    return db.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "remind_expiry", AuditEvent.object_id == str(doc.id))
    )


def finished(output: str, task: str) -> int:
    """How many *task* runs the worker's log shows as succeeded."""
    return len(re.findall(rf"Task {re.escape(task)}\[[^\]]+\] succeeded", output))


def queued_by_runs(output: str) -> int:
    """The mail tasks the scheduled runs in the worker's log queued."""
    return sum(int(n) for n in re.findall(r"(\d+) about ending consents queued", output))


def test_a_task_is_published_only_after_commit_and_the_worker_mails_it(
    app: Flask, world: World, config: dict[str, Any], smtp_server: SmtpServer, tmp_path: Path
) -> None:
    doc, end = ending_consent(app, world)
    q = queue()
    q.enqueue("formsvc.reminders.send", kind=reminders.EXPIRY, object_id=doc.id, key=end)
    db.session.rollback()
    db.session.commit()  # a later commit does not send what was rolled back
    assert waiting(q, "mail") == 0

    q.enqueue("formsvc.reminders.send", kind=reminders.EXPIRY, object_id=doc.id, key=end)
    assert waiting(q, "mail") == 0  # not before the commit
    db.session.commit()
    assert waiting(q, "mail") == 1
    assert not q.worker_alive()

    with running_worker(config, tmp_path / "worker", warm_stop=True) as worker:
        assert wait_until("the worker's heartbeat", q.worker_alive)
        message = smtp_server.wait_for(lambda m: str(m["Subject"]) == EXPIRING, timeout=30)
        assert str(message["To"]) == CASEWORKER and doc.reference in message.get_content()
        wait_until("the claim is committed", lambda: claims(doc) == 1)
        assert notices(doc) == 1
        assert "formsvc.reminders.send" in worker.output()
    assert not q.worker_alive()  # a stopped worker takes its heartbeat with it
    assert [str(m["Subject"]) for m in smtp_server.messages] == [EXPIRING]


class _Holding(_Collector):
    """Holds the first message's DATA until released, then refuses it (as a server that never
    got to accept it); later messages are accepted."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if not self.holding.is_set():
            self.holding.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 30)
            return "451 not accepted"
        return await super().handle_DATA(server, session, envelope)


def test_a_worker_killed_mid_mail_leaves_it_to_the_redelivered_task_which_sends_it_once(
    app: Flask, world: World, config: dict[str, Any], tmp_path: Path
) -> None:
    doc, end = ending_consent(app, world)
    holding = _Holding()
    smtp = _LoopbackController(
        holding, hostname=HOST, port=0, server_hostname="smtp.formsvc-test.invalid"
    )
    smtp.start()
    try:
        # a message not acknowledged within 3 s goes to another worker (production: an hour)
        cfg = {**config, "MAIL_PORT": smtp.port, "CELERY_VISIBILITY_TIMEOUT": 3}
        q = queue()
        q.enqueue("formsvc.reminders.send", kind=reminders.EXPIRY, object_id=doc.id, key=end)
        db.session.commit()

        with running_worker(cfg, tmp_path / "w1") as first:
            assert holding.holding.wait(30), first.output()[-3000:]
            first.kill9()  # in the middle of the SMTP conversation, claim uncommitted
        holding.release.set()
        assert holding.messages == []
        wait_until("the dead worker's claim is rolled back", lambda: claims(doc) == 0)

        with running_worker(cfg, tmp_path / "w2") as second:
            wait_until("the redelivered task's mail", lambda: holding.messages, timeout=40)
            wait_until("its claim is committed", lambda: claims(doc) == 1)
            assert "formsvc.reminders.send" in second.output()
        assert [str(m["Subject"]) for m in holding.messages] == [EXPIRING]
        assert notices(doc) == 1
    finally:
        holding.release.set()
        smtp.stop()


def test_two_beats_runs_and_two_copies_of_a_mail_task_send_each_reminder_once(
    app: Flask, world: World, config: dict[str, Any], smtp_server: SmtpServer, tmp_path: Path
) -> None:
    doc, end = ending_consent(app, world)
    q = queue()
    assert q.celery is not None
    # what two beats send for one period (two task ids), the first beat's message once more
    # (Redis redelivers it with its id when the worker running it died), and a mail task sent
    # twice (a republish)
    for run_id in ("beat-1-run", "beat-2-run", "beat-1-run"):
        q.celery.send_task(RUN, task_id=run_id, queue=q.queue_name(RUN))
    q.enqueue("formsvc.reminders.send", kind=reminders.EXPIRY, object_id=doc.id, key=end)
    q.enqueue("formsvc.reminders.send", kind=reminders.EXPIRY, object_id=doc.id, key=end)
    db.session.commit()

    with running_worker(config, tmp_path / "worker", concurrency=2) as worker:
        # every run ends; the lock belongs to the run that took it first: its redelivered
        # copy runs too, the other beat's copy is skipped
        wait_until("every run", lambda: finished(worker.output(), RUN) == 3)
        skipped = re.findall(r"another beat's copy has it \(run ([\w-]+)\)", worker.output())
        assert skipped in (["beat-2-run"], ["beat-1-run", "beat-1-run"])
        # every mail task ends: the two copies and what the run that was not skipped queued
        # (nothing if a copy had sent it already)
        expected = 2 + queued_by_runs(worker.output())
        wait_until("every mail task", lambda: finished(worker.output(), SEND) == expected)
    assert [str(m["Subject"]) for m in smtp_server.messages] == [EXPIRING]
    assert claims(doc) == 1 and notices(doc) == 1


@contextmanager
def database_blocked(app: Flask) -> Iterator[None]:
    """Nobody else can read the documents until the block ends (a run started meanwhile
    waits in the middle): PostgreSQL's ACCESS EXCLUSIVE table lock, SQLite's EXCLUSIVE lock."""
    db.session.close()
    engine = db.engine
    if engine.dialect.name == "sqlite":
        raw = sqlite3.connect(str(engine.url.database), isolation_level=None)
        try:
            raw.execute("BEGIN EXCLUSIVE")
            yield
        finally:
            raw.close()  # rolls back
        return
    with engine.connect() as conn:
        conn.execute(text(f"LOCK TABLE {Document.__tablename__} IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            conn.rollback()


def test_a_scheduled_run_killed_midway_is_redone_by_its_redelivered_message_only(
    app: Flask, world: World, config: dict[str, Any], smtp_server: SmtpServer, tmp_path: Path
) -> None:
    doc, _end = ending_consent(app, world)
    db.session.commit()
    doc_id = doc.id
    q = queue()
    assert q.celery is not None
    # a message not acknowledged within 3 s goes to another worker (production: an hour)
    cfg = {**config, "CELERY_VISIBILITY_TIMEOUT": 3}
    lock = f"{q.key_prefix}lock:reminders"
    with running_worker(cfg, tmp_path / "w1") as first, database_blocked(app):
        q.celery.send_task(RUN, task_id="beat-1-run", queue=q.queue_name(RUN))
        wait_until("the run has taken its lock", lambda: q.redis().exists(lock))
        first.kill9()  # in the middle of the run: nothing queued yet
    # the other beat's copy of the same period comes after
    q.celery.send_task(RUN, task_id="beat-2-run", queue=q.queue_name(RUN))
    doc = db.session.get(Document, doc_id)
    assert doc is not None and smtp_server.messages == [] and claims(doc) == 0

    with running_worker(cfg, tmp_path / "w2") as second:
        wait_until("both runs", lambda: finished(second.output(), RUN) == 2, timeout=40)
        skipped = re.findall(r"another beat's copy has it \(run ([\w-]+)\)", second.output())
        assert skipped == ["beat-2-run"]  # the redelivered run did the work
        smtp_server.wait_for(lambda m: str(m["Subject"]) == EXPIRING, timeout=30)
        wait_until("the claim is committed", lambda: claims(doc) == 1)
    assert [str(m["Subject"]) for m in smtp_server.messages] == [EXPIRING]
    assert notices(doc) == 1
