"""Fill, save, edit and download a consent (bilaga 3.2) through the web UI."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from formsvc import doctypes
from formsvc.extensions import db
from formsvc.forms.consent import ConsentForm, sample
from formsvc.models import Document, DocumentRevision
from tests.conftest import Auth, World
from tests.helpers import docx_text, pdf_text, post_data


def _new_url(world: World) -> str:
    return f"/participants/{world.participant.id}/documents/new/consent"


def test_new_consent_prefills_contact_and_period(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    html = client.get(_new_url(world)).get_data(as_text=True)
    assert 'value="Test caseworker"' in html  # the author is the default contact person
    assert "Polismyndigheten" in html
    assert "kan inte tas bort" in html


def test_caseworker_saves_edits_and_downloads_consent(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    resp = client.post(_new_url(world), data=post_data(ConsentForm, sample()))
    assert resp.status_code == 302
    doc = db.session.scalars(db.select(Document)).one()
    assert doc.status == "draft" and doc.version == 1
    assert doc.data["actors"][2]["other_name"] == "Fotbollsföreningen IK Kista"

    edited = post_data(ConsentForm, sample(), police_contact="Kommunpolis Kista, Eva Ek")
    assert client.post(f"/documents/{doc.id}/edit", data=edited).status_code == 302
    db.session.expire_all()
    assert doc.version == 2 and doc.data["police_contact"] == "Kommunpolis Kista, Eva Ek"
    revisions = db.session.scalars(db.select(DocumentRevision).order_by(DocumentRevision.version))
    assert [r.data["police_contact"] for r in revisions] == [
        "Kommunpolis Rinkeby-Kista, Anders Berg",
        "Kommunpolis Kista, Eva Ek",
    ]

    docx = client.get(f"/documents/{doc.id}/download.docx")
    assert docx.status_code == 200
    assert docx.headers["Content-Disposition"].endswith(f'consent-{doc.id}-v2.docx"')
    text = docx_text(docx.data)
    for expected in (
        "Åsa Öberg",
        "Kommunpolis Kista, Eva Ek",
        "Fotbollsföreningen IK Kista",
        "Maria Öberg",
        "Johan Öberg",
        "2026-12-01",
        "2027-11-30",
    ):
        assert expected in text

    pdf = client.get(f"/documents/{doc.id}/download.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    ptext = pdf_text(pdf.data)
    for expected in (
        "Sekretessbrytande medgivande",
        "Åsa Öberg",
        "Polismyndigheten",
        "Frivården",
        "Skolgång och skolnärvaro",
        "Vårdnadshavare 2",
    ):
        assert expected in ptext


def test_add_actor_button_adds_a_row_without_saving(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    data = post_data(ConsentForm, sample(), add_row="actors")
    html = client.post(_new_url(world), data=data).get_data(as_text=True)
    assert 'name="actors-3-actor"' in html  # three sample rows + one new
    assert db.session.scalar(db.select(db.func.count(Document.id))) == 0


def test_guardians_required_under_18_and_not_for_adults(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    data = post_data(ConsentForm, sample(), custody="")
    html = client.post(_new_url(world), data=data).get_data(as_text=True)
    assert "under 18 år" in html and "ange vårdnaden" in html
    joint_one = post_data(ConsentForm, sample(), **{"guardians-1-name": ""})
    html = client.post(_new_url(world), data=joint_one).get_data(as_text=True)
    assert "Ange vårdnadshavarens namn." in html
    adult = world.add_participant(
        world.home, "Vuxen", "Person", __import__("datetime").date(2000, 5, 5)
    )
    resp = client.post(
        f"/participants/{adult.id}/documents/new/consent",
        data=post_data(ConsentForm, sample(), custody=""),
    )
    assert resp.status_code == 302


def test_period_rules(client: FlaskClient, auth: Auth, world: World) -> None:
    auth.login("caseworker")
    before = post_data(ConsentForm, sample(), period_to="2026-11-30")
    html = client.post(_new_url(world), data=before).get_data(as_text=True)
    assert "Slutdatumet kan inte vara före startdatumet." in html
    too_long = post_data(ConsentForm, sample(), period_to="2027-12-01")
    html = client.post(_new_url(world), data=too_long).get_data(as_text=True)
    assert "högst 12 månader, alltså till och med 2027-11-30" in html
    assert 'value="2027-12-01"' in html  # what was typed is kept
    assert db.session.scalar(db.select(db.func.count(Document.id))) == 0


def test_other_district_participant_and_document_are_not_found(
    client: FlaskClient, auth: Auth, world: World, consent_doc: Document
) -> None:
    auth.login("other_caseworker")
    assert (
        client.post(
            f"/participants/{world.participant.id}/documents/new/consent",
            data=post_data(ConsentForm, sample()),
        ).status_code
        == 404
    )
    assert client.get(f"/documents/{consent_doc.id}/download.pdf").status_code == 404
    assert (
        client.post(
            f"/documents/{consent_doc.id}/edit", data=post_data(ConsentForm, sample())
        ).status_code
        == 404
    )
    db.session.expire_all()
    assert consent_doc.version == 1
    assert db.session.scalar(db.select(db.func.count(Document.id))) == 1


def test_unknown_type_and_format_are_404(
    client: FlaskClient, auth: Auth, world: World, consent_doc: Document
) -> None:
    auth.login("caseworker")
    assert client.get(f"/participants/{world.participant.id}/documents/new/nope").status_code == 404
    assert client.get(f"/documents/{consent_doc.id}/download.exe").status_code == 404
    assert client.get("/documents/999999").status_code == 404


def test_procurement_annex_is_a_guidance_page_linked_from_the_start_page(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    """Bilaga 2.4 has nothing to fill in: a read-only page, not a document type."""
    assert "2.4" not in {t.annex for t in doctypes.discover().values()}
    auth.login("caseworker")
    assert "/guidance/procurement" in client.get("/").get_data(as_text=True)
    page = client.get("/guidance/procurement").get_data(as_text=True)
    assert "informationssida, inget formulär" in page
    assert "De regler för upphandling som gäller i Stockholms stad ska följas." in page
    assert "<form" not in page.split('<main id="main">')[1].split("</main>")[0]
