"""Hotbildsbedömning (bilaga 3.3): only a manager decides; only assigned staff and managers read."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from formsvc.extensions import db
from formsvc.forms.threat_assessment import ThreatAssessmentForm, sample
from formsvc.models import Document, ParticipantAssignment, User
from formsvc.services import documents, users
from tests.conftest import PASSWORD, Auth, World
from tests.helpers import docx_text, pdf_text, post_data

DECISION = "Skyddat boende beviljas i två veckor. Beslutat efter samråd med polisen."


def _url(world: World) -> str:
    return f"/participants/{world.participant.id}/documents/new/threat_assessment"


def _count() -> int:
    return db.session.scalar(db.select(db.func.count(Document.id)))


def _assign(world: World, user: User) -> None:
    db.session.add(ParticipantAssignment(participant_id=world.participant.id, user_id=user.id))
    db.session.commit()


def _saved(app: Flask, world: World) -> Document:
    dtype = app.extensions["formsvc.registry"]["threat_assessment"]
    return documents.create(
        dtype,
        dtype.sample(),
        actor=world.users["manager"],
        participant=world.participant,
        store=app.extensions["formsvc.store"],
    )


def test_caseworker_cannot_record_the_decision_and_keeps_what_was_typed(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    _assign(world, world.users["caseworker"])
    auth.login("caseworker")
    html = client.get(_url(world)).get_data(as_text=True)
    assert "Beslutsdelen fylls i av arbetsledaren" in html
    data = post_data(
        ThreatAssessmentForm,
        sample(),
        decision=DECISION,
        decided_on="2026-11-12",
        decided_by="Test caseworker",
    )
    resp = client.post(_url(world), data=data)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert html.count("Bara arbetsledare kan registrera beslutet.") == 3
    assert str(escape(DECISION)) in html and 'value="2026-11-12"' in html
    assert _count() == 0
    # the same assessment without a decision is the caseworker's to save
    assert (
        client.post(_url(world), data=post_data(ThreatAssessmentForm, sample())).status_code == 302
    )


def test_manager_records_the_decision_and_it_is_printed_for_signing(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    html = client.get(_url(world)).get_data(as_text=True)
    assert "Beslutsdelen fylls i av arbetsledaren" not in html
    assert "Sekretess enligt OSL 26 kap." in html
    data = post_data(
        ThreatAssessmentForm,
        sample(),
        decision=DECISION,
        decided_on="2026-11-12",
        decided_by="Test manager",
    )
    assert client.post(_url(world), data=data).status_code == 302
    doc = db.session.scalars(db.select(Document)).one()
    assert doc.data["decision"] == DECISION and doc.data["decided_on"] == "2026-11-12"
    text = docx_text(client.get(f"/documents/{doc.id}/download.docx").data)
    for expected in (
        DECISION,
        "2026-11-12",
        "Arbetsledare, beslut",
        "Test manager",
        "Beslut ska fattas i samarbete med polismyndigheten.",
        "Lämnas inte ut till vårdnadshavare",
    ):
        assert expected in text, expected
    assert "Arbetsledaren har ännu inte registrerat något beslut." not in text
    ptext = pdf_text(client.get(f"/documents/{doc.id}/download.pdf").data)
    assert "Sekretess enligt OSL 26 kap." in ptext and "Förhöjd risk" in ptext


def test_decision_cannot_predate_the_assessment(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    data = post_data(ThreatAssessmentForm, sample(), decision=DECISION, decided_on="2026-11-01")
    html = client.post(_url(world), data=data).get_data(as_text=True)
    assert "Beslutet kan inte vara fattat före bedömningen." in html
    assert _count() == 0


def test_level_and_kind_of_measure_are_required(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    html = client.post(
        _url(world), data=post_data(ThreatAssessmentForm, sample(), level="")
    ).get_data(as_text=True)
    assert "Välj den bedömda nivån." in html
    html = client.post(
        _url(world), data=post_data(ThreatAssessmentForm, sample(), **{"measures-1-kind": ""})
    ).get_data(as_text=True)
    assert "Välj slag av åtgärd." in html
    assert "Samtal om skuldsituationen med budget- och skuldrådgivare" in html
    assert _count() == 0


def test_unassigned_caseworker_of_the_district_cannot_open_it(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    doc = _saved(app, world)
    auth.login("caseworker")  # same district, not assigned to the participant
    for url in (
        f"/documents/{doc.id}",
        f"/documents/{doc.id}/edit",
        f"/documents/{doc.id}/download.pdf",
        f"/documents/{doc.id}/v1/download.docx",
    ):
        assert client.get(url).status_code == 404, url
    assert (
        client.post(
            f"/documents/{doc.id}/edit", data=post_data(ThreatAssessmentForm, sample())
        ).status_code
        == 404
    )
    listing = client.get("/documents/").get_data(as_text=True)
    assert f"/documents/{doc.id}" not in listing
    db.session.expire_all()
    assert doc.version == 1


def test_manager_and_assigned_caseworker_can_open_it(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    doc = _saved(app, world)
    auth.login("manager")
    assert client.get(f"/documents/{doc.id}").status_code == 200
    assert f"/documents/{doc.id}" in client.get("/documents/").get_data(as_text=True)
    auth.logout()
    colleague = users.create_user(
        username="assigned_cw",
        full_name="Karin Lind",
        role="caseworker",
        password=PASSWORD,
        district_id=world.home.id,
    )
    _assign(world, colleague)
    auth.login("assigned_cw")
    assert client.get(f"/documents/{doc.id}").status_code == 200
    docx = client.get(f"/documents/{doc.id}/download.docx")
    assert docx.status_code == 200 and "Elias Haddad" not in docx_text(docx.data)
    assert "Åsa Öberg" in docx_text(docx.data)


def test_unassigned_caseworker_cannot_start_an_assessment(client, auth, world) -> None:  # noqa: ANN001
    """Creating a 3.3 is for assigned staff and managers, like reading one."""
    auth.login("caseworker")
    url = f"/participants/{world.participant.id}/documents/new/threat_assessment"
    assert client.get(url).status_code == 403
