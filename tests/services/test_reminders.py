"""`flask reminders`: one reminder per open link and per expiring consent, none lost to an outage.

Mail goes over real SMTP on loopback (the `smtp_server` fixture); the command runs as cron would
run it, through the Flask CLI.
"""

from __future__ import annotations

from datetime import date, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from formsvc.extensions import db
from formsvc.models import AuditEvent, Document, SignatureRequest
from formsvc.models._base import utcnow
from formsvc.runtime import runtime
from formsvc.services import documents, signing
from tests.conftest import NO_SMTP_PORT, World
from tests.smtp import SmtpServer

SIGNER = "maria@example.se"
CASEWORKER = "caseworker@example.se"  # the World's caseworker
REMINDER = "Påminnelse: dokument att skriva under"
EXPIRING = "Medgivande upphör snart"


@pytest.fixture
def config(config: dict[str, Any], smtp_server: SmtpServer) -> dict[str, Any]:
    return {**config, **smtp_server.settings}


def subjects(smtp: SmtpServer, to: str) -> list[str]:
    return [str(m["Subject"]) for m in smtp.messages if str(m["To"]) == to]


def last_to(smtp: SmtpServer, to: str) -> EmailMessage:
    return [m for m in smtp.messages if str(m["To"]) == to][-1]


def run(runner: FlaskCliRunner) -> Any:
    return runner.invoke(args=["reminders"])


def consent(app: Flask, world: World, period_to: date, status: str = "active") -> Document:
    """A consent of the sample's content, in *status*, ending on *period_to*.

    Signing and sealing are covered by tests/services/test_signing.py; here only the state
    `flask reminders` reads matters.
    """
    dtype = runtime(app).registry["consent"]
    data = dict(
        dtype.sample(),
        period_from=(period_to - timedelta(days=300)).isoformat(),
        period_to=period_to.isoformat(),
    )
    return documents.create(
        dtype,
        data,
        actor=world.users["caseworker"],
        participant=world.participant,
        store=runtime(app).store,
        status=status,
    )


@pytest.fixture
def link_request(app: Flask, world: World, consent_doc: Document) -> SignatureRequest:
    """A guardian's request of the sent sample consent, with a personal link mailed to them."""
    dtype = runtime(app).registry["consent"]
    reqs = signing.send(
        consent_doc,
        dtype,
        actor=world.users["caseworker"],
        store=runtime(app).store,
        converter=runtime(app).converter,
    )
    req = reqs[1]
    signing.issue_link(
        req,
        SIGNER,
        settings=app.config,
        link_for=lambda token: f"http://localhost/s/{token}",
        actor=world.users["caseworker"],
    )
    return req


def sent_days_ago(req: SignatureRequest, days: int) -> None:
    req.link_sent_at = utcnow() - timedelta(days=days)
    db.session.commit()


def test_a_link_left_unsigned_gets_exactly_one_reminder(
    app: Flask, runner: FlaskCliRunner, link_request: SignatureRequest, smtp_server: SmtpServer
) -> None:
    assert subjects(smtp_server, SIGNER) == ["Dokument att skriva under"]
    # sent just now: too early to remind
    assert run(runner).exit_code == 0
    assert subjects(smtp_server, SIGNER) == ["Dokument att skriva under"]

    sent_days_ago(link_request, int(app.config["REMINDER_AFTER_DAYS"]) + 1)
    result = run(runner)
    assert result.exit_code == 0, result.output
    assert "påminnelser till undertecknare: 1" in result.output
    assert subjects(smtp_server, SIGNER) == ["Dokument att skriva under", REMINDER]
    body = last_to(smtp_server, SIGNER).get_content()
    assert link_request.document.reference in body
    assert "http://localhost/s/" not in body  # the token is not stored, so it cannot be resent

    result = run(runner)
    assert result.exit_code == 0 and "påminnelser till undertecknare: 0" in result.output
    assert subjects(smtp_server, SIGNER).count(REMINDER) == 1
    db.session.refresh(link_request)
    assert link_request.reminded_at is not None


def test_declined_or_expired_links_get_no_reminder(
    app: Flask, runner: FlaskCliRunner, link_request: SignatureRequest, smtp_server: SmtpServer
) -> None:
    sent_days_ago(link_request, 5)
    link_request.token_expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert run(runner).exit_code == 0
    assert REMINDER not in subjects(smtp_server, SIGNER)

    link_request.token_expires_at = utcnow() + timedelta(days=5)
    signing.decline(link_request, "Vill inte", method="link", actor=None)
    assert run(runner).exit_code == 0
    assert REMINDER not in subjects(smtp_server, SIGNER)


def test_a_consent_that_ends_within_the_notice_period_is_announced_to_its_caseworker_once(
    app: Flask, runner: FlaskCliRunner, world: World, smtp_server: SmtpServer
) -> None:
    today = signing.today_local()
    soon = consent(app, world, today + timedelta(days=10))
    later = consent(
        app, world, today + timedelta(days=int(app.config["CONSENT_EXPIRY_NOTICE_DAYS"]) + 5)
    )
    result = run(runner)
    assert result.exit_code == 0, result.output
    assert subjects(smtp_server, CASEWORKER) == [EXPIRING]
    body = last_to(smtp_server, CASEWORKER).get_content()
    assert soon.reference in body and later.reference not in body
    assert (today + timedelta(days=10)).isoformat() in body
    assert "Åsa Öberg" in body  # whose consent it is

    assert run(runner).exit_code == 0
    assert subjects(smtp_server, CASEWORKER) == [EXPIRING]  # not again
    db.session.refresh(soon)
    assert soon.status == "active"


def test_a_consent_past_its_end_becomes_expired_without_mail(
    app: Flask, runner: FlaskCliRunner, world: World, smtp_server: SmtpServer
) -> None:
    today = signing.today_local()
    ended = consent(app, world, today - timedelta(days=1))
    ends_today = consent(app, world, today)
    result = run(runner)
    assert result.exit_code == 0, result.output
    assert "medgivanden som upphört: 1" in result.output
    db.session.refresh(ended)
    db.session.refresh(ends_today)
    assert ended.status == "expired"
    assert ends_today.status == "active"  # still valid on its last day
    expire_events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "expire")
    ).all()
    assert [e.object_id for e in expire_events] == [str(ended.id)]
    body = last_to(smtp_server, CASEWORKER).get_content()
    assert ended.reference not in body  # the announcement is about the one still running


def test_only_consents_in_force_today_are_announced_as_ending(
    app: Flask, runner: FlaskCliRunner, world: World, smtp_server: SmtpServer
) -> None:
    """A signed consent that has not started yet is not "ending" (consents.valid_on decides)."""
    today = signing.today_local()
    running = consent(app, world, today + timedelta(days=10))
    later = consent(app, world, today + timedelta(days=12))
    later.data = {**later.data, "period_from": (today + timedelta(days=2)).isoformat()}
    db.session.commit()
    assert run(runner).exit_code == 0
    body = last_to(smtp_server, CASEWORKER).get_content()
    assert running.reference in body and later.reference not in body
    assert subjects(smtp_server, CASEWORKER) == [EXPIRING]


def test_when_mail_is_down_the_run_fails_and_the_next_run_sends_everything(
    app: Flask,
    make_app: Any,
    runner: FlaskCliRunner,
    world: World,
    link_request: SignatureRequest,
    smtp_server: SmtpServer,
) -> None:
    sent_days_ago(link_request, 5)
    ending = consent(app, world, signing.today_local() + timedelta(days=3))
    down = make_app(MAIL_PORT=NO_SMTP_PORT)
    # the CLI runs in the current app context when there is one: give it the broken app's
    with down.app_context():
        result = down.test_cli_runner().invoke(args=["reminders"])
    assert result.exit_code == 1
    assert "kunde inte skickas (försöker igen nästa gång)" in result.output
    assert REMINDER not in subjects(smtp_server, SIGNER)
    assert subjects(smtp_server, CASEWORKER) == []

    result = run(runner)
    assert result.exit_code == 0, result.output
    assert subjects(smtp_server, SIGNER).count(REMINDER) == 1
    assert subjects(smtp_server, CASEWORKER) == [EXPIRING]
    assert ending.reference in last_to(smtp_server, CASEWORKER).get_content()

    assert run(runner).exit_code == 0
    assert subjects(smtp_server, SIGNER).count(REMINDER) == 1
    assert subjects(smtp_server, CASEWORKER) == [EXPIRING]
