"""formsvc.queue: tasks go only after the commit (inline mode runs them then, in-process),
nothing after a rollback; the mode, broker and beat schedule are checked at start-up; the
run-once lock of a scheduled job belongs to its run and the worker heartbeat is read from one
key per queue, in a real Redis. The worker itself: tests/slow/test_jobs_worker.py."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import func, select

from formsvc import create_app, logs, tasks
from formsvc.extensions import db
from formsvc.models import Document, SentReminder
from formsvc.runtime import runtime
from formsvc.services import documents, reminders, signing
from tests.conftest import World
from tests.jobs import celery_config, redis_url, wait_until  # noqa: F401
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


@pytest.fixture
def celery_app(config: dict[str, Any], redis_url: str) -> Iterator[Flask]:  # noqa: F811
    """An app in celery mode on a private Redis (no worker), its context pushed."""
    app = create_app(celery_config(config, redis_url))
    with app.app_context():
        yield app
        queue = runtime(app).queue
        assert queue is not None
        queue.redis().close()
        db.session.remove()
        db.engine.dispose()


def test_a_scheduled_jobs_lock_belongs_to_its_run(celery_app: Flask) -> None:
    queue = runtime().queue
    assert queue is not None and queue.mode == "celery"
    assert queue.run_once("reminders", 60, "run-a")
    assert not queue.run_once("reminders", 60, "run-b")  # the second beat's copy
    assert queue.run_once("reminders", 60, "run-a")  # run-a redelivered after a crash
    assert not queue.run_once("reminders", 60)  # a run without an id is another run
    assert queue.run_once("retention", 60, "run-b")  # another job has its own lock
    ttl = queue.redis().ttl(f"{queue.key_prefix}lock:reminders")
    assert 0 < ttl <= 60
    # most of the period between two runs: an hour for reminders, a day for retention
    assert 3000 < queue.lock_seconds("reminders") < 3600
    assert 20 * 3600 < queue.lock_seconds("retention") < 24 * 3600


def test_a_scheduled_run_that_died_runs_again_when_redelivered_and_another_beats_copy_not(
    celery_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    from formsvc.services import retention

    real_run = retention.run
    calls: list[str | None] = []

    def dies_the_first_time(*args: Any, **kwargs: Any) -> Any:
        calls.append(tasks.RUN_ID.get())
        if len(calls) == 1:
            raise SystemExit(-9)  # the worker process dies in the middle of the run
        return real_run(*args, **kwargs)

    monkeypatch.setattr(retention, "run", dies_the_first_time)

    def as_worker(run_id: str) -> None:  # as formsvc.worker runs a task: under its id
        token = tasks.RUN_ID.set(run_id)
        try:
            tasks.TASKS["formsvc.retention.run"].fn()
        finally:
            tasks.RUN_ID.reset(token)

    with pytest.raises(SystemExit):
        as_worker("beat-1-run")
    as_worker("beat-2-run")  # the second beat's copy of this period: skipped
    assert calls == ["beat-1-run"]
    as_worker("beat-1-run")  # the first copy, redelivered (Celery keeps the task id)
    assert calls == ["beat-1-run", "beat-1-run"]


def test_the_beat_schedule_runs_each_job_at_a_fixed_stockholm_time_whenever_beat_starts(
    celery_app: Flask,
) -> None:
    queue = runtime().queue
    assert queue is not None and queue.celery is not None
    entries = queue.beat_entries()  # what formsvc.worker gives beat
    assert {e["task"] for e in entries.values()} == set(tasks.SCHEDULED.values())
    assert queue.celery.conf.beat_schedule_filename == celery_app.config["BEAT_SCHEDULE_FILE"]
    stockholm = ZoneInfo("Europe/Stockholm")
    hour = timedelta(hours=1)
    # a beat started (with no schedule file) at any time, summer time changes included
    starts = [
        datetime(2026, 12, 8, 3, 14, 59, tzinfo=UTC),
        datetime(2026, 12, 8, 23, 59, tzinfo=UTC),
        datetime(2027, 3, 28, 0, 30, tzinfo=UTC),  # 02:00 → 03:00 in Stockholm that night
        datetime(2027, 10, 31, 0, 30, tzinfo=UTC),  # 03:00 → 02:00
    ]
    for start in starts:
        nexts = {}
        for job, entry in entries.items():
            cron = entry["schedule"]
            cron.nowfun = lambda start=start: start
            nexts[job] = start + cron.remaining_estimate(start)
            assert nexts[job] > start
        local = {job: t.astimezone(stockholm) for job, t in nexts.items()}
        # an hour; two when the clocks go back (Celery's crontab skips the repeated hour)
        assert nexts["reminders"] - start <= 2 * hour and local["reminders"].minute == 5
        assert nexts["retention"] - start <= 24 * hour + hour  # a day (25 h when clocks go back)
        assert (local["retention"].hour, local["retention"].minute) == (3, 15)
        assert (local["audit_checkpoint"].hour, local["audit_checkpoint"].minute) == (3, 45)


@pytest.mark.parametrize(
    "schedule",
    [
        {"retention": 86400},  # seconds: an interval restarts with beat
        {"retention": "15 3 * *"},
        {"retention": "61 3 * * *"},
        {"retention": "15 3 * * * *"},
        {"retention": "15 3 * * *; rm -rf /"},
        {"retention": "x y z w v"},
        {"retention": ["15", "3", "*", "*", "*"]},
        {"nope": "15 3 * * *"},
        "15 3 * * *",
    ],
)
def test_a_beat_schedule_that_is_not_cron_lines_of_known_jobs_refuses_to_start(
    config: dict[str, Any], schedule: Any
) -> None:
    with pytest.raises(RuntimeError, match="BEAT_SCHEDULE"):
        create_app({**config, "BEAT_SCHEDULE": schedule})


def test_readiness_sees_a_worker_consuming_mail_by_one_key_without_scanning(
    celery_app: Flask,
) -> None:
    queue = runtime().queue
    assert queue is not None
    client = queue.redis()
    client.mset({f"unrelated:{i}": "1" for i in range(500)})
    client.config_resetstat()
    assert not queue.worker_alive()
    queue.beat("default-only@host", ["default"])
    assert not queue.worker_alive()  # nobody sends mail
    assert queue.worker_alive("default")
    queue.beat("mailer@host", ["mail"])
    assert queue.worker_alive()
    calls = client.info("commandstats")
    assert not {"cmdstat_scan", "cmdstat_keys"} & set(calls)
    queue.forget("mailer@host")  # a clean stop
    assert not queue.worker_alive() and queue.worker_alive("default")
    # a worker that died without a goodbye stops counting when its heartbeat ends
    short = replace(queue, heartbeat_ttl=1)
    short.beat("dying@host", ["mail"])
    assert queue.worker_alive()
    wait_until("the heartbeat has ended", lambda: not queue.worker_alive(), timeout=5)


def test_in_inline_mode_no_worker_is_needed_and_every_run_may_go(app: Flask) -> None:
    queue = runtime().queue
    assert queue is not None
    assert queue.run_once("reminders", 60) and queue.run_once("reminders", 60)
    assert not queue.worker_alive()
