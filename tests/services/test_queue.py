"""formsvc.queue: tasks go only after the commit (inline mode runs them then, in-process),
nothing after a rollback; the mode and broker are checked at start-up; the run-once lock of a
scheduled job holds in a real Redis. The worker itself: tests/slow/test_jobs_worker.py."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from formsvc import create_app, logs
from formsvc.extensions import db
from formsvc.models import Document, SentReminder
from formsvc.runtime import runtime
from formsvc.services import documents, reminders, signing
from tests.conftest import World
from tests.jobs import celery_config, redis_url  # noqa: F401
from tests.smtp import SmtpServer

EXPIRING = "Medgivande upphör snart"


@pytest.fixture
def config(config: dict[str, Any], smtp_server: SmtpServer) -> dict[str, Any]:
    return {**config, **smtp_server.settings}


def ending_consent(app: Flask, world: World) -> tuple[Document, str]:
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


def claims(doc: Document) -> int:
    return db.session.scalar(
        select(func.count()).select_from(SentReminder).where(SentReminder.object_id == doc.id)
    )


def test_inline_is_the_default_and_runs_a_task_right_after_the_commit_not_before(
    app: Flask, world: World, smtp_server: SmtpServer
) -> None:
    doc, end = ending_consent(app, world)
    queue = runtime().queue
    assert queue is not None and queue.mode == "inline" and queue.celery is None
    queue.enqueue("formsvc.reminders.send", kind=reminders.EXPIRY, object_id=doc.id, key=end)
    assert smtp_server.messages == []  # not before the commit
    db.session.commit()
    assert [str(m["Subject"]) for m in smtp_server.messages] == [EXPIRING]
    assert claims(doc) == 1
    db.session.commit()  # a second commit sends nothing again
    queue.enqueue("formsvc.reminders.send", kind=reminders.EXPIRY, object_id=doc.id, key=end)
    db.session.commit()  # sent again: the claim makes it a no-op
    assert len(smtp_server.messages) == 1 and claims(doc) == 1


@pytest.mark.parametrize(
    ("rid", "carried"),
    [("req-0123456789abcdef", True), ("bad id\r\nX-Injected: 1", False), (None, False)],
)
def test_a_task_runs_under_the_request_id_it_was_queued_in_or_a_fresh_one(
    app: Flask,
    world: World,
    smtp_server: SmtpServer,
    caplog: pytest.LogCaptureFixture,
    rid: str | None,
    carried: bool,
) -> None:
    doc, end = ending_consent(app, world)
    queue = runtime().queue
    assert queue is not None
    caplog.handler.addFilter(logs.RequestIdFilter())
    caplog.set_level(logging.INFO, logger="formsvc")
    with logs.bound_request_id(rid) as bound:
        queue.enqueue("formsvc.reminders.send", kind=reminders.EXPIRY, object_id=doc.id, key=end)
    db.session.commit()  # outside the request: the task still gets its id
    sent = [r for r in caplog.records if r.getMessage().startswith("Mail to caseworker@")]
    assert len(sent) == 1
    task_rid = sent[0].request_id  # type: ignore[attr-defined]
    # the request's id; a malformed or missing one was replaced by a fresh one in the request
    assert task_rid == bound and logs.well_formed(task_rid)
    assert (task_rid == rid) is carried


def test_a_rolled_back_transaction_sends_nothing_even_at_a_later_commit(
    app: Flask, world: World, smtp_server: SmtpServer
) -> None:
    doc, end = ending_consent(app, world)
    queue = runtime().queue
    assert queue is not None
    queue.enqueue("formsvc.reminders.send", kind=reminders.EXPIRY, object_id=doc.id, key=end)
    db.session.rollback()
    db.session.commit()
    db.session.close()
    db.session.commit()
    assert smtp_server.messages == []
    assert db.session.scalar(select(func.count()).select_from(SentReminder)) == 0


class TestMailDown:
    @pytest.fixture
    def config(self, config: dict[str, Any]) -> dict[str, Any]:
        return {**config, "MAIL_PORT": 9}  # nothing listens there

    def test_an_inline_task_that_fails_is_logged_and_its_work_stays_due(
        self, app: Flask, world: World, caplog: pytest.LogCaptureFixture
    ) -> None:
        doc, end = ending_consent(app, world)
        queue = runtime().queue
        assert queue is not None
        queue.enqueue("formsvc.reminders.send", kind=reminders.EXPIRY, object_id=doc.id, key=end)
        db.session.commit()  # the commit itself succeeds
        assert claims(doc) == 0  # nothing claimed: the next run sends it
        assert "task formsvc.reminders.send failed (inline)" in caplog.text


def test_an_unknown_task_is_refused_at_once(app: Flask) -> None:
    queue = runtime().queue
    assert queue is not None
    for name in ("formsvc.nope", "", "formsvc.reminders.send\n", "os.system"):
        with pytest.raises(ValueError, match="unknown task"):
            queue.enqueue(name)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"QUEUE_MODE": "eager"}, "QUEUE_MODE must be one of"),
        ({"QUEUE_MODE": "celery"}, "needs CELERY_BROKER_URL"),
        ({"QUEUE_MODE": "celery", "CELERY_BROKER_URL": "http://127.0.0.1:6379/0"}, "redis://"),
        ({"QUEUE_MODE": "celery", "CELERY_BROKER_URL": "amqp://guest@127.0.0.1//"}, "redis://"),
        ({"QUEUE_MODE": "celery", "CELERY_BROKER_URL": " redis://x"}, "redis://"),
    ],
)
def test_a_mode_the_app_cannot_run_refuses_to_start(
    config: dict[str, Any], overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(RuntimeError, match=message):
        create_app({**config, **overrides})


def test_a_scheduled_jobs_lock_is_taken_once_per_period_in_redis(
    config: dict[str, Any],
    redis_url: str,  # noqa: F811
) -> None:
    app = create_app(celery_config(config, redis_url))
    queue = runtime(app).queue
    assert queue is not None and queue.mode == "celery"
    assert queue.run_once("reminders", 60)
    assert not queue.run_once("reminders", 60)  # the second beat's copy
    assert queue.run_once("retention", 60)  # another job has its own lock
    ttl = queue.redis().ttl(f"{queue.key_prefix}lock:reminders")
    assert 0 < ttl <= 60
    assert not queue.worker_alive()
    queue.beat("w1@host")
    assert queue.worker_alive()
    assert 0 < queue.redis().ttl(f"{queue.key_prefix}heartbeat:w1@host") <= queue.heartbeat_ttl
    queue.redis().close()
    with app.app_context():
        db.engine.dispose()


def test_in_inline_mode_no_worker_is_needed_and_every_run_may_go(app: Flask) -> None:
    queue = runtime().queue
    assert queue is not None
    assert queue.run_once("reminders", 60) and queue.run_once("reminders", 60)
    assert not queue.worker_alive()
