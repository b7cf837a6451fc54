"""Demo mode: what `flask seed-demo` leaves in the database, twice, and the login page."""

from __future__ import annotations

import runpy
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from formsvc import config as formsvc_config
from formsvc import create_app
from formsvc.extensions import db
from formsvc.models import AuditEvent, Document, Participant, SignatureRequest, User
from formsvc.runtime import runtime
from formsvc.services import (
    audit,
    checkpoints,
    dashboards,
    demo,
    documents,
    signing,
    statistics,
    users,
)
from formsvc.services.sealing import trusted_certificates, verify
from tests.factories import demo_seed
from tests.smtp import SmtpServer

SIG_DISTRICTS = 7


@pytest.fixture
def config(config: dict[str, Any], smtp_server: SmtpServer) -> dict[str, Any]:
    return {**config, **smtp_server.settings, "DEMO_MODE": True}


def counts() -> dict[str, int]:
    """Rows per table and documents per (type, status): what a second run must not change."""
    out: dict[str, int] = {
        "users": db.session.scalar(select(func.count()).select_from(User)) or 0,
        "participants": db.session.scalar(select(func.count()).select_from(Participant)) or 0,
        "requests": db.session.scalar(select(func.count()).select_from(SignatureRequest)) or 0,
    }
    for slug, status, n in db.session.execute(
        select(Document.type_slug, Document.status, func.count()).group_by(
            Document.type_slug, Document.status
        )
    ):
        out[f"{slug}:{status}"] = n
    return out


def test_seeding_makes_every_state_in_every_district_once_and_keeps_the_log_whole(
    app: Flask, smtp_server: SmtpServer
) -> None:
    first = demo_seed(app)
    assert first.problems == []
    assert first.participants == SIG_DISTRICTS * len(demo.PEOPLE)
    assert first.sealed == SIG_DISTRICTS * 3  # a consent and two security talks per district
    assert first.links == SIG_DISTRICTS

    for district in users.districts():
        docs = db.session.scalars(select(Document).where(Document.district_id == district.id))
        by = Counter((d.type_slug, d.status) for d in docs)
        # a consent for a minor, signed by the participant and both guardians, sealed
        assert by["consent", "active"] == 1
        sealed = db.session.scalar(
            select(Document).where(
                Document.district_id == district.id,
                Document.type_slug == "consent",
                Document.status == "active",
            )
        )
        assert sealed.sealed_at is not None and sealed.sealed_pdf_sha256
        slots = sorted((r.slot, r.status) for r in signing.requests(sealed))
        assert slots == [
            ("guardian1", "signed"),
            ("guardian2", "signed"),
            ("participant", "signed"),
        ]
        assert sealed.participant.birth_date > date.today().replace(year=date.today().year - 18)
        assert verify(
            runtime(app).store.get(sealed.sealed_pdf_sha256), trusted_certificates(app)
        ).ok
        # a consent waiting for the second guardian, whose personal link went out by mail
        assert by["consent", "awaiting_signatures"] == 1
        waiting = db.session.scalar(
            select(Document).where(
                Document.district_id == district.id,
                Document.type_slug == "consent",
                Document.status == "awaiting_signatures",
            )
        )
        open_ = [r for r in signing.requests(waiting) if r.status == "open"]
        assert [(r.slot, r.method) for r in open_] == [("guardian2", "link")]
        assert signing.link_state(open_[0]) == "open"
        # an action plan; a threat assessment on the manager's list to decide
        assert by["action_plan", "draft"] == 1
        to_decide = dashboards.threat_assessments_to_decide(district.id)
        assert len(to_decide) == 1 and not to_decide[0].data.get("decision")
        # one employee with a talk within 12 months, one whose last talk is older: overdue
        assert by["security_talk", "signed"] == 2
        talks = [s for s in dashboards.talk_compliance(district.id, date.today()) if s.last_talk]
        assert sorted(s.overdue for s in talks) == [False, True]
        # follow-ups: six enrolments and three discharges
        assert by["follow_up", "draft"] == 9

    links = [m for m in smtp_server.messages if "http://localhost/s/" in m.get_content()]
    assert len(links) == SIG_DISTRICTS

    # the city-wide statistics of the last half-year show every indicator (a bar, not hidden)
    start, end = statistics.default_period(date.today())
    rep = statistics.report(statistics.Query(start, end, None))
    assert rep.figures["discharged"].by_gender.total(None) == SIG_DISTRICTS * 3
    assert len(rep.indicators) == 8
    for ind in rep.indicators:
        assert ind.share("enrolment").share is not None, ind.key
        assert ind.share("discharge").share is not None, ind.key

    # every step went through the services: the audit log holds together, documents match it
    assert audit.verify()[1] is None
    log = checkpoints.verify_log(audit.anchor())
    assert log.problems == []
    _, findings = audit.verify_documents(
        runtime(app).store.get,
        lambda pdf: verify(pdf, trusted_certificates(app)).ok,
        documents.data_digest,
    )
    assert findings == []

    before, events = counts(), db.session.scalar(select(func.count()).select_from(AuditEvent))
    second = demo_seed(app)
    assert (second.staff, second.participants, second.documents, second.links) == (0, 0, 0, 0)
    assert counts() == before
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events


def test_login_page_lists_the_demo_accounts_in_demo_mode(app: Flask, client: FlaskClient) -> None:
    users.seed_demo(app.config["DEMO_PASSWORD"])
    page = client.get("/login").get_data(as_text=True)
    assert "Demokonton" in page
    # the accounts every instance has; a district's further staff exist after a full seed
    assert "Fler konton" not in page
    for username, full_name, _role, _title in users.DEMO_USERS:
        assert f"<code>{username}</code>" in page and full_name in page
    assert "Arbetsledare/enhetschef" in page and "Rinkeby-Kista" in page
    assert app.config["DEMO_PASSWORD"] in page


def test_login_page_lists_no_account_without_demo_mode(app: Flask, make_app: Any) -> None:
    users.seed_demo(app.config["DEMO_PASSWORD"])
    plain = make_app(DEMO_MODE=False)
    page = plain.test_client().get("/login").get_data(as_text=True)
    assert "Demokonton" not in page
    assert "<code>handlaggare</code>" not in page
    assert plain.config["DEMO_PASSWORD"] not in page


def test_production_config_has_demo_mode_off(tmp_path: Path) -> None:
    # the defaults, which an instance/config.py without DEMO_MODE keeps
    assert formsvc_config.defaults(str(tmp_path))["DEMO_MODE"] is False


def test_an_instance_config_without_demo_mode_runs_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: dict[str, Any]
) -> None:
    (tmp_path / "config.py").write_text(
        f"SECRET_KEY = 'x' * 40\nSTORAGE_KEYRING_PATH = {config['STORAGE_KEYRING_PATH']!r}\n"
        f"AUDIT_KEY_PATH = {config['AUDIT_KEY_PATH']!r}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("FORMSVC_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("FORMSVC_DEMO_MODE", raising=False)
    assert create_app().config["DEMO_MODE"] is False


def test_the_make_run_instance_turns_demo_mode_on(tmp_path: Path) -> None:
    script = Path(__file__).parents[2] / "scripts" / "setup_instance.py"
    runpy.run_path(str(script))["write_config"](tmp_path)
    namespace: dict[str, Any] = {}
    exec((tmp_path / "config.py").read_text(encoding="utf-8"), namespace)  # noqa: S102
    assert namespace["DEMO_MODE"] is True
