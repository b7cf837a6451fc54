"""Dashboards, the security function, the audit trail, protected identity, archive search and
export, retention (gallring) and the immutability of sealed documents (issue: archive and trust)."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select, text, update

from formsvc.extensions import db
from formsvc.models import AuditEvent, Document, Participant
from formsvc.models._base import utcnow
from formsvc.runtime import runtime
from formsvc.services import documents, signing
from tests.conftest import Auth, World
from tests.helpers import pdf_text
from tests.services.test_signing import Flow
from tests.views.test_signing import starting_today


def make(app: Flask, world: World, slug: str, **kw: object) -> Document:
    dtype = runtime(app).registry[slug]
    actor = world.users[
        "manager" if slug in ("security_talk", "threat_assessment") else "caseworker"
    ]
    return documents.create(dtype, dtype.sample(), actor=actor, store=runtime(app).store, **kw)


def signed_consent(app: Flask, world: World) -> Document:
    doc = starting_today(app, world, make(app, world, "consent", participant=world.participant))
    flow = Flow(app, world, doc)
    for req, name in zip(flow.send(), ["Åsa Öberg", "Maria Öberg", "Johan Öberg"], strict=True):
        flow.sign(req, name)
    assert flow.finalise()
    return db.session.get(Document, doc.id)


def signed_talk(app: Flask, world: World) -> Document:
    doc = make(app, world, "security_talk", employee=world.users["caseworker"])
    flow = Flow(app, world, doc)
    flow.world = world
    for req, name in zip(flow.send(), ["Test manager", "Test caseworker"], strict=True):
        flow.sign(req, name)
    assert flow.finalise()
    return db.session.get(Document, doc.id)


# --------------------------------------------------------------------------- dashboards


def test_caseworker_start_page_lists_waiting_expiring_and_drafts(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    draft = make(app, world, "needs_inventory", participant=world.participant)
    consent = signed_consent(app, world)
    today = signing.today_local()
    data = dict(consent.data, period_to=(today + timedelta(days=10)).isoformat())
    db.session.execute(update(Document).where(Document.id == consent.id).values(data=data))
    db.session.commit()
    waiting = make(app, world, "action_plan", participant=world.participant)
    Flow(app, world, waiting).send()
    auth.login("caseworker")
    page = client.get("/").get_data(as_text=True)
    waiting_part = page.split('id="waiting-h"')[1].split("</section>")[0]
    assert f"/documents/{waiting.id}" in waiting_part
    expiring_part = page.split('id="expiring-h"')[1].split("</section>")[0]
    assert f"/documents/{consent.id}" in expiring_part
    drafts_part = page.split('id="drafts-h"')[1].split("</section>")[0]
    assert f"/documents/{draft.id}" in drafts_part


def test_manager_sees_threat_assessments_to_decide_high_first_and_talk_compliance(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    low = make(app, world, "threat_assessment", participant=world.participant)
    other = world.add_participant(world.home, "Bo", "Ek", world.participant.birth_date)
    high = make(app, world, "threat_assessment", participant=other)
    for doc, level in ((low, "none"), (high, "high")):
        data = dict(doc.data, level=level, decision="", decided_on=None, decided_by="")
        db.session.execute(update(Document).where(Document.id == doc.id).values(data=data))
    db.session.commit()
    auth.login("manager")
    page = client.get("/").get_data(as_text=True)
    part = page.split('id="decide-h"')[1].split("</section>")[0]
    assert part.index(f"/documents/{high.id}") < part.index(f"/documents/{low.id}")
    talks = page.split('id="talks-h"')[1].split("</section>")[0]
    row = talks.split("Test caseworker")[1].split("</tr>")[0]
    assert "aldrig" in row and "Försenat" in row
    signed_talk(app, world)
    talks = client.get("/").get_data(as_text=True).split('id="talks-h"')[1]
    row = talks.split("Test caseworker")[1].split("</tr>")[0]
    assert "2026-11-20" in row and "Klart" in row


def test_security_officer_sees_signed_talks_and_who_is_overdue_and_nothing_about_clients(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    talk = signed_talk(app, world)
    signed_consent(app, world)
    auth.login("security_officer")
    page = client.get("/").get_data(as_text=True)
    assert "Test caseworker" in page and "Test manager" in page
    assert "Öberg" not in page and "Åsa" not in page
    listing = client.get("/security/").get_data(as_text=True)
    assert f"/security/talks/{talk.id}.pdf" in listing and "Öberg" not in listing
    pdf = client.get(f"/security/talks/{talk.id}.pdf")
    assert pdf.status_code == 200 and "Underskriftsbevis" in pdf_text(pdf.data)
    consent = db.session.scalars(select(Document).where(Document.type_slug == "consent")).first()
    assert client.get(f"/security/talks/{consent.id}.pdf").status_code == 404
    for url in ("/participants/", "/documents/", f"/documents/{consent.id}"):
        assert client.get(url).status_code == 403


# --------------------------------------------------------------------------- audit


def test_audit_verify_reports_a_changed_and_a_removed_row(
    app: Flask, runner: FlaskCliRunner, world: World, consent_doc: Document
) -> None:
    ok = runner.invoke(args=["audit", "verify"])
    assert ok.exit_code == 0 and "Loggen är hel" in ok.output
    ids = db.session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)).all()
    assert len(ids) >= 3
    # an administrator with database access edits a row behind the application's back
    db.session.execute(
        text("UPDATE audit_event SET actor_label = 'någon annan' WHERE id = :id"), {"id": ids[1]}
    )
    db.session.commit()
    bad = runner.invoke(args=["audit", "verify"])
    assert bad.exit_code == 1 and f"händelse {ids[1]} " in bad.output
    db.session.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": ids[1]})
    db.session.commit()
    gone = runner.invoke(args=["audit", "verify"])
    assert gone.exit_code == 1 and f"händelse {ids[2]} " in gone.output


def test_managers_see_their_districts_document_trail_and_admins_logins_only(
    app: Flask, client: FlaskClient, auth: Auth, world: World, consent_doc: Document
) -> None:
    auth.login("caseworker")
    client.get(f"/documents/{consent_doc.id}")
    auth.logout()
    auth.login("manager")
    page = client.get("/audit/").get_data(as_text=True)
    assert f"/documents/{consent_doc.id}" in page and ">view<" in page
    filtered = client.get(f"/audit/?document={consent_doc.id}").get_data(as_text=True)
    assert ">create<" in filtered
    auth.logout()
    auth.login("admin")
    admin = client.get("/admin/audit").get_data(as_text=True)
    assert ">login<" in admin and f"/documents/{consent_doc.id}" not in admin
    assert client.get("/audit/").status_code == 403


# --------------------------------------------------------------------------- protected identity


@pytest.fixture
def protected(app: Flask, world: World) -> Participant:
    p = world.add_participant(world.home, "Hemlig", "Person", world.participant.birth_date)
    p.id_kind, p.id_number, p.protected_identity = "personnummer", "20100315-1238", True
    db.session.commit()
    return p


def test_protected_identity_only_for_assigned_staff_and_managers_and_every_read_logged(
    app: Flask, client: FlaskClient, auth: Auth, world: World, protected: Participant
) -> None:
    doc = make(app, world, "needs_inventory", participant=protected)
    auth.login("caseworker")
    assert "Hemlig" not in client.get("/participants/").get_data(as_text=True)
    assert client.get(f"/participants/{protected.id}").status_code == 404
    assert client.get(f"/documents/{doc.id}").status_code == 404
    assert f"/documents/{doc.id}" not in client.get("/documents/").get_data(as_text=True)
    auth.logout()
    auth.login("manager")
    page = client.get(f"/participants/{protected.id}").get_data(as_text=True)
    assert "20100315-****" in page and "1238" not in page
    client.post(
        f"/participants/{protected.id}/assignments",
        data={"user_id": world.users["caseworker"].id, "action": "add"},
    )
    auth.logout()
    auth.login("caseworker")
    assert client.get(f"/participants/{protected.id}").status_code == 200
    reads = db.session.scalar(
        select(func.count(AuditEvent.id)).where(
            AuditEvent.action == "view_protected", AuditEvent.object_id == str(protected.id)
        )
    )
    assert reads == 2
    text_ = pdf_text(client.get(f"/documents/{doc.id}/download.pdf").data)
    assert "20100315-****" in text_ and "1238" not in text_


# --------------------------------------------------------------------------- archive


def test_search_by_signer_and_export_one_participant_as_a_streamed_zip(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    consent = signed_consent(app, world)
    draft = make(app, world, "needs_inventory", participant=world.participant)
    auth.login("caseworker")
    found = client.get("/documents/?signer=Maria").get_data(as_text=True)
    assert f"/documents/{consent.id}" in found and f'/documents/{draft.id}"' not in found
    assert f"/documents/{consent.id}" not in client.get("/documents/?signer=Zlatan").get_data(
        as_text=True
    )
    resp = client.get(f"/participants/{world.participant.id}/export.zip")
    assert resp.status_code == 200 and resp.is_streamed
    archive = zipfile.ZipFile(io.BytesIO(resp.get_data()))
    names = archive.namelist()
    assert "index.csv" in names
    sealed = [n for n in names if n.endswith("-signerad.pdf")]
    assert len(sealed) == 1
    store = runtime(app).store
    assert archive.read(sealed[0]) == store.get(consent.sealed_pdf_sha256)
    index = archive.read("index.csv").decode("utf-8-sig")
    assert consent.reference in index and draft.reference in index
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "export"))
    auth.logout()
    auth.login("other_caseworker")
    assert client.get(f"/participants/{world.participant.id}/export.zip").status_code == 404


def test_a_sealed_document_cannot_be_changed_through_the_application(
    app: Flask, world: World
) -> None:
    consent = signed_consent(app, world)
    consent.data = dict(consent.data, info_other="ändrat i efterhand")
    with pytest.raises(RuntimeError, match="sealed"):
        db.session.commit()
    db.session.rollback()


# --------------------------------------------------------------------------- retention


def age(doc: Document, years: int) -> None:
    past = utcnow() - timedelta(days=365 * years + 2)
    db.session.execute(
        update(Document)
        .where(Document.id == doc.id)
        .values(created_at=past, updated_at=past, sealed_at=past if doc.sealed_at else None)
    )
    db.session.commit()


def test_retention_dry_run_lists_real_run_deletes_with_a_receipt_and_holds_stop_it(
    app: Flask, client: FlaskClient, auth: Auth, runner: FlaskCliRunner, world: World
) -> None:
    old = signed_consent(app, world)
    age(old, 6)
    sealed_sha = old.sealed_pdf_sha256
    kept_p = world.add_participant(world.home, "Kvar", "Person", world.participant.birth_date)
    recent = make(app, world, "needs_inventory", participant=kept_p)
    held_p = world.add_participant(world.home, "Spärr", "Person", world.participant.birth_date)
    held = make(app, world, "needs_inventory", participant=held_p)
    age(held, 6)
    auth.login("manager")
    client.post(f"/participants/{held_p.id}/hold", data={"on": "1", "reason": "Tvist i domstol"})
    db.session.expire_all()
    assert db.session.get(Participant, held_p.id).legal_hold

    dry = runner.invoke(args=["retention", "--dry-run"])
    assert dry.exit_code == 0
    assert f"{old.id}\tconsent" in dry.output and "SPÄRRAD" in dry.output
    assert str(recent.id) + "\t" not in dry.output
    db.session.expire_all()
    assert db.session.get(Document, old.id).status == "active"

    real = runner.invoke(args=["retention"])
    assert "Gallrade 1 dokument" in real.output, real.output
    db.session.expire_all()
    gone = db.session.get(Document, old.id)
    assert gone.status == "purged" and gone.data == {} and gone.sealed_pdf_sha256 is None
    with pytest.raises(OSError):
        runtime(app).store.get(sealed_sha)
    receipt = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "retention_delete", AuditEvent.object_id == str(old.id)
        )
    )
    assert receipt.details["reference"] == old.reference and "5 år" in receipt.details["rule"]
    assert sealed_sha in receipt.details["files"]
    assert db.session.get(Participant, world.participant.id).first_name == "Gallrad"
    assert db.session.get(Document, held.id).status == "draft"
    assert db.session.get(Document, recent.id).status == "draft"
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0


# --------------------------------------------------------------------------- tamper


def test_audit_verify_finds_a_changed_document_row_and_a_swapped_sealed_pdf(
    app: Flask, runner: FlaskCliRunner, world: World
) -> None:
    consent = signed_consent(app, world)
    draft = make(app, world, "needs_inventory", participant=world.participant)
    clean = runner.invoke(args=["audit", "verify"])
    assert clean.exit_code == 0, clean.output
    assert "Dokumenten stämmer med loggen" in clean.output
    # someone with database access edits a draft's content behind the application's back
    changed = dict(draft.data, notes="tillagt i databasen")
    db.session.execute(update(Document).where(Document.id == draft.id).values(data=changed))
    # and points the sealed consent at another (validly stored) PDF
    other = runtime(app).store.put(b"%PDF-1.4 fake", "application/pdf")
    db.session.execute(
        update(Document).where(Document.id == consent.id).values(sealed_pdf_sha256=other.sha256)
    )
    db.session.commit()
    bad = runner.invoke(args=["audit", "verify"])
    assert bad.exit_code == 1
    assert f"Dokument {draft.id}: Dokumentets innehåll stämmer inte med loggen." in bad.output
    assert f"Dokument {consent.id}: Den förseglade filen är inte den som loggen" in bad.output
    assert "Loggen är hel" in bad.output  # the chain itself was not touched
